// SPDX-License-Identifier: GPL-2.0
/* Hostile fixture: panics the kernel from init (the whole guest dies). */
#include <linux/module.h>

static int __init panic_init_init(void)
{
	panic("panic_init: student module panicked on purpose");
	return 0;
}

module_init(panic_init_init);
MODULE_LICENSE("GPL");
