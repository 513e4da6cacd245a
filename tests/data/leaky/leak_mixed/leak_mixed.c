// SPDX-License-Identifier: GPL-2.0
/*
 * Many ways to allocate, some leaked. What the memory witness must report
 * (lines marked SEEN) and what it cannot see (marked UNSEEN, allocated by
 * kernel code on the module's behalf).
 * Everything else is freed, by the module or by the kernel for it (krealloc,
 * kfree_rcu), and must not be reported. The slab cache is destroyed: its
 * name stays in /sys/kernel/slab as a symlink, which is not a leftover.
 */
#include <linux/gfp.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

struct leak_mixed_node {
	int value;
	struct rcu_head rcu;
};

static char *dup_name, *dup_bytes, *printed;
static void *table, *grown, *big, *object, *area;
static unsigned long page;
static struct kmem_cache *cache;

static int __init leak_mixed_init(void)
{
	struct leak_mixed_node *node = kmalloc(sizeof(*node), GFP_KERNEL);
	void *small = kmalloc(10, GFP_KERNEL);

	if (!node || !small)
		return -ENOMEM; /* a fixture: the error paths may leak */
	kfree_rcu(node, rcu); /* freed later by RCU, in a batch */
	dup_name = kstrdup("leak_mixed", GFP_KERNEL); /* SEEN: never freed */
	dup_bytes = kmemdup("abcdef", 6, GFP_KERNEL);
	printed = kasprintf(GFP_KERNEL, "n=%d", 42); /* UNSEEN: kvasprintf allocates */
	table = kvmalloc(100, GFP_KERNEL);
	grown = krealloc(small, 500, GFP_KERNEL); /* SEEN: never freed (small was) */
	big = kmalloc(40000, GFP_KERNEL);
	area = vmalloc(20000); /* SEEN: never vfree'd */
	page = __get_free_page(GFP_KERNEL); /* SEEN: a return probe on the page allocator */
	cache = kmem_cache_create("leak_mixed_cache", 72, 0, 0, NULL);
	object = cache ? kmem_cache_alloc(cache, GFP_KERNEL) : NULL;
	return 0;
}

static void __exit leak_mixed_exit(void)
{
	kmem_cache_free(cache, object);
	kmem_cache_destroy(cache);
	kfree(dup_bytes);
	kvfree(table);
	kfree(big);
}

module_init(leak_mixed_init);
module_exit(leak_mixed_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: allocations of many kinds, some leaked");
