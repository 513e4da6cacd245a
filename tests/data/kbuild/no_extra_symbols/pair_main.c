// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 2b, kbuild: the main file of kmodlab_pair.ko, a module built from
 * two source files (this one and pair_util.c). Nothing to change here: the
 * task is the Makefile.
 *
 * pr_fmt puts KBUILD_MODNAME before every message: the module's name, which
 * kbuild takes from obj-m in the Makefile, not from a file name.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "pair.h"

static int __init pair_init(void)
{
	pr_info("2 + 3 = %d\n", pair_sum(2, 3));
	return 0;
}

static void __exit pair_exit(void)
{
	pr_info("goodbye\n");
}

module_init(pair_init);
module_exit(pair_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("A module built from two source files");
