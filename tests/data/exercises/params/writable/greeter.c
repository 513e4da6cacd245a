// SPDX-License-Identifier: GPL-2.0
/*
 * Wrong answer (params): count is writable by root (0644), where the task
 * asks for read-only for everyone (0444).
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>

static int count = 1;
module_param(count, int, 0644);
MODULE_PARM_DESC(count, "How many greetings to send");

static char *name = "world";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "Whom to greet");

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
