// SPDX-License-Identifier: GPL-2.0
/* Fixture: a module built from two files (main.o helper.o), one shim for both. */
#include <linux/module.h>
#include <linux/slab.h>
#include "helper.h"

static void *table;
static char *name;

static int __init two_init(void)
{
	table = kcalloc(8, sizeof(long), GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	name = two_make_name("two");
	if (!name) {
		kfree(table);
		return -ENOMEM;
	}
	return 0;
}

static void __exit two_exit(void)
{
	two_drop_name(name);
	kfree(table);
}

module_init(two_init);
module_exit(two_exit);
MODULE_LICENSE("GPL");
