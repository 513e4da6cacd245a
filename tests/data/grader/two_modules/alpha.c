// SPDX-License-Identifier: GPL-2.0
/* Fixture: one of two modules in one folder; its allocation cannot fail (__GFP_NOFAIL). */
#include <linux/module.h>
#include <linux/slab.h>

static char *alpha_buf;

static int __init alpha_init(void)
{
	alpha_buf = kmalloc(16, GFP_KERNEL | __GFP_NOFAIL); /* never NULL: no check needed */
	alpha_buf[0] = 'a';
	return 0;
}

static void __exit alpha_exit(void)
{
	kfree(alpha_buf);
}

module_init(alpha_init);
module_exit(alpha_exit);
MODULE_LICENSE("GPL");
