// SPDX-License-Identifier: GPL-2.0
/* Fixture: the kmalloc result is used without a NULL check. */
#include <linux/module.h>
#include <linux/slab.h>

static char *greeting;

static int __init unchecked_alloc_init(void)
{
	greeting = kmalloc(32, GFP_KERNEL);
	greeting[0] = 'h'; /* no NULL check: the oops is here when kmalloc failed */
	greeting[1] = 'i';
	greeting[2] = '\0';
	pr_info("unchecked_alloc: %s\n", greeting);
	return 0;
}

static void __exit unchecked_alloc_exit(void)
{
	kfree(greeting);
}

module_init(unchecked_alloc_init);
module_exit(unchecked_alloc_exit);
MODULE_LICENSE("GPL");
