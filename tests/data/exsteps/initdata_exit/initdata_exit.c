// SPDX-License-Identifier: GPL-2.0
/* exit prints a string marked __initdata: freed once init returned. */
#include <linux/module.h>

static char banner[] __initdata = "checked, used, freed";

static int __init initdata_exit_init(void)
{
	pr_info("initdata_exit: %s\n", banner);
	return 0;
}

static void __exit initdata_exit_exit(void)
{
	pr_info("initdata_exit: bye, %s\n", banner);
}

module_init(initdata_exit_init);
module_exit(initdata_exit_exit);
MODULE_LICENSE("GPL");
