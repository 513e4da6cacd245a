// SPDX-License-Identifier: GPL-2.0
/* Control: every spelling the attacks use, with a correct unwind ladder and exit. */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/gfp.h>

static void *(*grab)(size_t size, gfp_t flags) = __kmalloc;
static void (*drop)(const void *p) = kfree;
static char *a, *b, *c, *d;
static unsigned long page;

static int __init clean_bypass_init(void)
{
	a = (kmalloc)(32, GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	b = grab(48, GFP_KERNEL);
	if (!b)
		goto free_a;
	c = (kasprintf)(GFP_KERNEL, "c-%d", 3);
	if (!c)
		goto free_b;
	page = (__get_free_pages)(GFP_KERNEL, 0);
	if (!page)
		goto free_c;
#undef kzalloc
	d = kzalloc(16, GFP_KERNEL);
	if (!d)
		goto free_page;
	return 0;
free_page:
	(free_pages)(page, 0);
free_c:
	drop(c);
free_b:
	(kfree)(b);
free_a:
	kfree(a);
	return -ENOMEM;
}

static void __exit clean_bypass_exit(void)
{
	kfree(d);
	free_pages(page, 0);
	drop(c);
	(kfree)(b);
	kfree(a);
}

module_init(clean_bypass_init);
module_exit(clean_bypass_exit);
MODULE_LICENSE("GPL");
