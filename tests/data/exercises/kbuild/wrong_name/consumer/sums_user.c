// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 2b, kbuild: sums_user.ko calls sums_add(), which sums.ko exports from
 * ../provider. Nothing to change here: the task is the Makefile, which must
 * tell modpost where that export is (KBUILD_EXTRA_SYMBOLS).
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

int sums_add(int a, int b); /* exported by sums.ko, built in ../provider */

static int __init sums_user_init(void)
{
	pr_info("sums_user: 2 + 3 = %d\n", sums_add(2, 3));
	return 0;
}

static void __exit sums_user_exit(void)
{
	pr_info("sums_user: goodbye\n");
}

module_init(sums_user_init);
module_exit(sums_user_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Calls sums_add() from a module built in another folder");
