// SPDX-License-Identifier: GPL-2.0
/* Wrong answer (setup): the line is almost right, but not exactly. */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

static int __init ready_init(void)
{
	pr_info("kmodlab: Ready!\n");
	return 0;
}

static void __exit ready_exit(void)
{
}

module_init(ready_init);
module_exit(ready_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Stage 1: says that the lab is ready");
