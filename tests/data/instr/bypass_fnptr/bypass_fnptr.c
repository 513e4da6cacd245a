// SPDX-License-Identifier: GPL-2.0
/* Attack: the second allocation goes through a function pointer (to __kmalloc, what
 * kmalloc() calls for a size it cannot see); its error path leaks the first. */
#include <linux/module.h>
#include <linux/slab.h>

static void *(*grab)(size_t size, gfp_t flags) = __kmalloc;
static char *buf, *extra;

static int __init bypass_fnptr_init(void)
{
	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	extra = grab(128, GFP_KERNEL);
	if (!extra)
		return -ENOMEM; /* buf leaks */
	return 0;
}

static void __exit bypass_fnptr_exit(void)
{
	kfree(extra);
	kfree(buf);
}

module_init(bypass_fnptr_init);
module_exit(bypass_fnptr_exit);
MODULE_LICENSE("GPL");
