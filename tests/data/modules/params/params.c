// SPDX-License-Identifier: GPL-2.0
/* Fixture: a module parameter, shown by insmod name=value and /sys/module. */
#include <linux/module.h>
#include <linux/moduleparam.h>

static char *whom = "world";
module_param(whom, charp, 0444);
MODULE_PARM_DESC(whom, "who to greet");

static int __init params_init(void)
{
	pr_info("params: hello, %s\n", whom);
	return 0;
}

static void __exit params_exit(void)
{
	pr_info("params: goodbye, %s\n", whom);
}

module_init(params_init);
module_exit(params_exit);
MODULE_LICENSE("GPL");
