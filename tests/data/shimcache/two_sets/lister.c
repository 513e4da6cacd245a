// SPDX-License-Identifier: GPL-2.0
/* lister: a page of memory and a name, both released on every path. */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static void *page;
static char *name;

static int __init lister_init(void)
{
	page = vzalloc(4096);
	if (!page)
		return -ENOMEM;
	name = kstrdup("lister", GFP_KERNEL);
	if (!name) {
		vfree(page);
		return -ENOMEM;
	}
	return 0;
}

static void __exit lister_exit(void)
{
	kfree(name);
	vfree(page);
}

module_init(lister_init);
module_exit(lister_exit);
MODULE_LICENSE("GPL");
