// SPDX-License-Identifier: GPL-2.0
/*
 * A correct module that reserves a block of pages (as a driver sharing it
 * with user space would) and clears the reservation before giving the pages
 * back, on the error path and in exit.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/page-flags.h>
#include <linux/slab.h>

#define ORDER 4

static unsigned long pages;
static char *buf;

static void reserve(bool on)
{
	struct page *p = virt_to_page((void *)pages);
	int i;

	for (i = 0; i < (1 << ORDER); i++) {
		if (on)
			SetPageReserved(p + i);
		else
			ClearPageReserved(p + i);
	}
}

static int __init pages_init(void)
{
	pages = __get_free_pages(GFP_KERNEL, ORDER);
	if (!pages)
		return -ENOMEM;
	reserve(true);
	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		goto out_pages;
	return 0;

out_pages:
	reserve(false);
	free_pages(pages, ORDER);
	return -ENOMEM;
}

static void __exit pages_exit(void)
{
	kfree(buf);
	reserve(false);
	free_pages(pages, ORDER);
}

module_init(pages_init);
module_exit(pages_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: reserved pages given back correctly");
