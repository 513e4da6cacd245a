// SPDX-License-Identifier: GPL-2.0
/* Hostile: includes a file of the build machine by absolute path. */
#include <linux/module.h>

MODULE_LICENSE("GPL");

static const char stolen[] = {
#include "/usr/include/linux/version.h"
};

static int __init abs_init(void)
{
	pr_info("abs_include: %zu bytes\n", sizeof(stolen));
	return 0;
}

static void __exit abs_exit(void)
{
}

module_init(abs_init);
module_exit(abs_exit);
