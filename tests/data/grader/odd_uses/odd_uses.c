// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: uses of the wrapped names that are not plain calls must still
 * build: an address taken, a parenthesised call, a macro of the kernel's
 * (KMEM_CACHE, debugfs_remove_recursive) and an #undef. pr_fmt is defined
 * before the includes, as kernel style asks, and the Makefile asks -Werror.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/debugfs.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

struct odd_item {
	int id;
	long value;
};

static void (*odd_release)(const void *) = kfree; /* address taken: the real kfree */
static struct kmem_cache *odd_cache;
static struct dentry *odd_dir;
static void *odd_paren;
static void *odd_plain;

static int odd_show(struct seq_file *m, void *v)
{
	seq_puts(m, "odd\n");
	return 0;
}

static int __init odd_init(void)
{
	odd_paren = (kzalloc)(16, GFP_KERNEL); /* parenthesised: not recorded */
	odd_cache = KMEM_CACHE(odd_item, 0);
	odd_dir = debugfs_create_dir("odd_uses", NULL);
	proc_create_single("odd_uses", 0444, NULL, odd_show);
#undef kmalloc
	odd_plain = kmalloc(8, GFP_KERNEL); /* after #undef: not recorded */
	pr_info("loaded\n");
	return 0;
}

static void __exit odd_exit(void)
{
	remove_proc_entry("odd_uses", NULL);
	debugfs_remove_recursive(odd_dir);
	kmem_cache_destroy(odd_cache);
	odd_release(odd_plain);
	odd_release(odd_paren);
}

module_init(odd_init);
module_exit(odd_exit);
MODULE_LICENSE("GPL");
