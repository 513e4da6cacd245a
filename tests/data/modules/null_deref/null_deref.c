// SPDX-License-Identifier: GPL-2.0
/* Hostile fixture: dereferences NULL in init (an oops; insmod is killed). */
#include <linux/module.h>

struct thing {
	int a;
	int value;
};

static struct thing *find_thing(void)
{
	return NULL;
}

static int __init null_deref_init(void)
{
	struct thing *t = find_thing();

	pr_info("null_deref: about to read t->value\n");
	return t->value;
}

static void __exit null_deref_exit(void)
{
}

module_init(null_deref_init);
module_exit(null_deref_exit);
MODULE_LICENSE("GPL");
