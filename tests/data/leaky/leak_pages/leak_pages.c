// SPDX-License-Identifier: GPL-2.0
/*
 * Leaks a page: __get_free_page() in init, free_page() forgotten in exit.
 * Page allocations are not kmalloc, so the kmem trace does not see them:
 * the ledger must.
 */
#include <linux/module.h>
#include <linux/gfp.h>

static unsigned long buffer;

static int __init leak_pages_init(void)
{
	buffer = __get_free_page(GFP_KERNEL); /* LEAK: never freed */
	if (!buffer)
		return -ENOMEM;
	pr_info("leak_pages: got a page\n");
	return 0;
}

static void __exit leak_pages_exit(void)
{
	pr_info("leak_pages: bye\n");
}

module_init(leak_pages_init);
module_exit(leak_pages_exit);
MODULE_LICENSE("GPL");
