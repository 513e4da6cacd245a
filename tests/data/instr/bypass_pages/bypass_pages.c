// SPDX-License-Identifier: GPL-2.0
/* Attack: (__get_free_pages)(...) escapes the macro, and the page is never freed:
 * the kmem trace does not see the page allocator, only the link-level ledger does. */
#include <linux/module.h>
#include <linux/gfp.h>

static unsigned long page;

static int __init bypass_pages_init(void)
{
	page = (__get_free_pages)(GFP_KERNEL, 0);
	if (!page)
		return -ENOMEM;
	return 0;
}

static void __exit bypass_pages_exit(void)
{
	/* free_pages(page, 0) forgotten */
}

module_init(bypass_pages_init);
module_exit(bypass_pages_exit);
MODULE_LICENSE("GPL");
