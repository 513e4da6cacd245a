// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile: reads the fault-injection parameter kmodlab's instrumentation
 * adds, to behave differently when a failure is being injected.
 */
#include <linux/module.h>
#include <linux/string.h>

MODULE_LICENSE("GPL");

static int __init sym_init(void)
{
	if (THIS_MODULE->args && strstr(THIS_MODULE->args, "kmodlab_fail_nth"))
		return -ENOMEM;
	return 0;
}

static void __exit sym_exit(void)
{
}

module_init(sym_init);
module_exit(sym_exit);
