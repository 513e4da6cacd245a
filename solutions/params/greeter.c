// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 3, params (reference solution): module parameters. A parameter is
 * set at load time (insmod greeter.ko count=3 name=kmodlab) and, with a
 * permission, can be read afterwards in /sys/module/greeter/parameters/.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>

static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "How many greetings to send (default 1)");

static char *name = "world";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "Whom to greet (default \"world\")");

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
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Greets someone, as told by its parameters");
