// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 1, setup (reference solution): a module whose only job is to prove
 * that the lab works.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

static int __init ready_init(void)
{
	pr_info("kmodlab: ready\n");
	return 0;
}

static void __exit ready_exit(void)
{
}

module_init(ready_init);
module_exit(ready_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Stage 1: says that the lab is ready");
