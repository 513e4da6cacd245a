// SPDX-License-Identifier: GPL-2.0
/* Clean: one resource, checked, released in exit. */
#include <linux/module.h>
#include <linux/slab.h>

static char *buffer;

static int __init clean_one_init(void)
{
	buffer = kzalloc(128, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM;
	pr_info("clean_one: buffer ready\n");
	return 0;
}

static void __exit clean_one_exit(void)
{
	kfree(buffer);
	pr_info("clean_one: buffer freed\n");
}

module_init(clean_one_init);
module_exit(clean_one_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("One checked allocation, freed in exit");
