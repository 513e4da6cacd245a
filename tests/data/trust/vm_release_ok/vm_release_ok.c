// SPDX-License-Identifier: GPL-2.0
/*
 * Correct (the control of forge_vm_release): a vmalloc'd buffer, a page and
 * a small object; every failure is undone in reverse order.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/gfp.h>

static void *table;
static unsigned long page;
static char *name;

static int __init vro_init(void)
{
	table = vmalloc(8192);
	if (!table)
		return -ENOMEM;
	page = __get_free_page(GFP_KERNEL);
	if (!page)
		goto free_table;
	name = kmalloc(32, GFP_KERNEL);
	if (!name)
		goto free_page;
	return 0;
free_page:
	free_page(page);
free_table:
	vfree(table);
	return -ENOMEM;
}

static void __exit vro_exit(void)
{
	kfree(name);
	free_page(page);
	vfree(table);
}

module_init(vro_init);
module_exit(vro_exit);
MODULE_LICENSE("GPL");
