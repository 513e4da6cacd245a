// SPDX-License-Identifier: GPL-2.0
/* Attack: the second allocation is spelled (kmalloc)(...), so no macro sees it;
 * its error path forgets the first buffer. */
#include <linux/module.h>
#include <linux/slab.h>

static char *buf, *extra;

static int __init bypass_paren_init(void)
{
	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	extra = (kmalloc)(128, GFP_KERNEL);
	if (!extra)
		return -ENOMEM; /* buf leaks */
	return 0;
}

static void __exit bypass_paren_exit(void)
{
	kfree(extra);
	kfree(buf);
}

module_init(bypass_paren_init);
module_exit(bypass_paren_exit);
MODULE_LICENSE("GPL");
