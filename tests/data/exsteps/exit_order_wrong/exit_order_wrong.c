// SPDX-License-Identifier: GPL-2.0
/* Frees the buffer its /proc file shows before removing the file: wrong order. */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

static char *msg;
static struct proc_dir_entry *ent;

static int show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", msg);
	return 0;
}

static int __init wrong_init(void)
{
	msg = kstrdup("in order", GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	ent = proc_create_single("exit_order_wrong", 0444, NULL, show);
	if (!ent) {
		kfree(msg);
		return -ENOMEM;
	}
	return 0;
}

static void __exit wrong_exit(void)
{
	kfree(msg);
	proc_remove(ent);
}

module_init(wrong_init);
module_exit(wrong_exit);
MODULE_LICENSE("GPL");
