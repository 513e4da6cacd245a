// SPDX-License-Identifier: GPL-2.0
/* Two independent buffers, freed in the order they were allocated: no dependency,
 * so no order is wrong. The /proc file (made last) goes first. */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

static char *first, *second;
static struct proc_dir_entry *ent;

static int show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s %s\n", first, second);
	return 0;
}

static int __init two_init(void)
{
	first = kstrdup("one", GFP_KERNEL);
	if (!first)
		return -ENOMEM;
	second = kzalloc(32, GFP_KERNEL);
	if (!second)
		goto free_first;
	strscpy(second, "two", 32);
	ent = proc_create_single("two_buffers", 0444, NULL, show);
	if (!ent)
		goto free_second;
	return 0;

free_second:
	kfree(second);
free_first:
	kfree(first);
	return -ENOMEM;
}

static void __exit two_exit(void)
{
	proc_remove(ent);
	kfree(first);
	kfree(second);
}

module_init(two_init);
module_exit(two_exit);
MODULE_LICENSE("GPL");
