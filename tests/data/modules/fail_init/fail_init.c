// SPDX-License-Identifier: GPL-2.0
/* Fixture: init fails with -ENOMEM; it must run once per load, not twice. */
#include <linux/module.h>

static int __init fail_init_init(void)
{
	pr_info("fail_init: init called\n");
	return -ENOMEM;
}

module_init(fail_init_init);
MODULE_LICENSE("GPL");
