// SPDX-License-Identifier: GPL-2.0
/* Attack: #undef kmalloc before the second allocation; its error path leaks the first. */
#include <linux/module.h>
#include <linux/slab.h>

static char *buf, *extra;

static int __init bypass_undef_init(void)
{
	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
#undef kmalloc
	extra = kmalloc(128, GFP_KERNEL);
	if (!extra)
		return -ENOMEM; /* buf leaks */
	return 0;
}

static void __exit bypass_undef_exit(void)
{
	kfree(extra);
	kfree(buf);
}

module_init(bypass_undef_init);
module_exit(bypass_undef_exit);
MODULE_LICENSE("GPL");
