// SPDX-License-Identifier: GPL-2.0
/*
 * Wrong answer (hello): no MODULE_LICENSE at all: modpost refuses to build
 * it.
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

MODULE_AUTHOR("A. Student <student@kmodlab.invalid>");
MODULE_DESCRIPTION("Says hello when loaded and goodbye when removed");
