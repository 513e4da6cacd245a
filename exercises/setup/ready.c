// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 1, setup: a module whose only job is to prove that your lab works.
 *
 * Build and grade it as it is, read the report, then do the TODO and grade
 * it again.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

static int __init ready_init(void)
{
	pr_info("kmodlab: not ready yet\n");
	/* TODO: log exactly "kmodlab: ready" instead of the line above. */
	return 0;
}

static void __exit ready_exit(void)
{
}

module_init(ready_init);
module_exit(ready_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Stage 1: says that the lab is ready");
