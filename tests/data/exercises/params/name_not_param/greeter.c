// SPDX-License-Identifier: GPL-2.0
/*
 * Wrong answer (params): name is a plain variable: module_param() was
 * forgotten.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>

static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "How many greetings to send");

static char *name = "world";

static int __init greeter_init(void)
{
	pr_info("greeter: Hello, %s! (count=%d)\n", name, count);
	return 0;
}

static void __exit greeter_exit(void)
{
	pr_info("greeter: Goodbye, %s!\n", name);
}

module_init(greeter_init);
module_exit(greeter_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("A. Student");
MODULE_DESCRIPTION("Greets someone, as told by its parameters");
