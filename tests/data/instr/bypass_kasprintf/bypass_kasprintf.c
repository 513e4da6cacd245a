// SPDX-License-Identifier: GPL-2.0
/* Attack: (kasprintf)(...) escapes the macro; its error path leaks the first buffer. */
#include <linux/module.h>
#include <linux/slab.h>

static char *buf, *name;

static int __init bypass_kasprintf_init(void)
{
	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	name = (kasprintf)(GFP_KERNEL, "item-%d", 7);
	if (!name)
		return -ENOMEM; /* buf leaks */
	return 0;
}

static void __exit bypass_kasprintf_exit(void)
{
	kfree(name);
	kfree(buf);
}

module_init(bypass_kasprintf_init);
module_exit(bypass_kasprintf_exit);
MODULE_LICENSE("GPL");
