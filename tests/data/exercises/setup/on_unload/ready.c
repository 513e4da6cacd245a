// SPDX-License-Identifier: GPL-2.0
/* Wrong answer (setup): the right line, but printed by exit instead of init. */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

static int __init ready_init(void)
{
	return 0;
}

static void __exit ready_exit(void)
{
	pr_info("kmodlab: ready\n");
}

module_init(ready_init);
module_exit(ready_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Stage 1: says that the lab is ready");
