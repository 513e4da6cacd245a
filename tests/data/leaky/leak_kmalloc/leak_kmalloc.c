// SPDX-License-Identifier: GPL-2.0
/*
 * Leaks exactly one allocation: `kept` (kzalloc in init) is never freed.
 * `freed` is released in exit and `scratch` inside init, so the memory witness
 * must name the kzalloc line and nothing else.
 */
#include <linux/module.h>
#include <linux/slab.h>

static void *kept;
static void *freed;

static int __init leak_kmalloc_init(void)
{
	void *scratch = kmalloc(32, GFP_KERNEL);

	if (!scratch)
		return -ENOMEM;
	kfree(scratch);
	freed = kmalloc(128, GFP_KERNEL);
	if (!freed)
		return -ENOMEM;
	kept = kzalloc(200, GFP_KERNEL); /* LEAK: never freed */
	if (!kept) {
		kfree(freed);
		return -ENOMEM;
	}
	pr_info("leak_kmalloc: loaded\n");
	return 0;
}

static void __exit leak_kmalloc_exit(void)
{
	kfree(freed);
	pr_info("leak_kmalloc: unloaded (forgot kept)\n");
}

module_init(leak_kmalloc_init);
module_exit(leak_kmalloc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: leaks one kzalloc");
