// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 2, hello (reference solution): the life of a module. init runs when
 * the module is loaded (insmod), exit when it is removed (rmmod).
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

static int __init hello_init(void)
{
	pr_info("Hello, world!\n");
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("Goodbye, world!\n");
}

module_init(hello_init);
module_exit(hello_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course <course@kmodlab.invalid>");
MODULE_DESCRIPTION("Says hello when loaded and goodbye when removed");
