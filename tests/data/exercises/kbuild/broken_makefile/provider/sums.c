// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 2b, kbuild: sums.ko, built in its own folder, exports sums_add() to
 * modules built in other folders. Nothing to change here: the task is the
 * Makefile.
 */
#include <linux/export.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

int sums_add(int a, int b)
{
	return a + b;
}
EXPORT_SYMBOL_GPL(sums_add);

static int __init sums_init(void)
{
	pr_info("sums: exporting sums_add\n");
	return 0;
}

static void __exit sums_exit(void)
{
	pr_info("sums: goodbye\n");
}

module_init(sums_init);
module_exit(sums_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Exports sums_add() to modules built elsewhere");
