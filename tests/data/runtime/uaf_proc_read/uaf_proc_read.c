// SPDX-License-Identifier: GPL-2.0
/*
 * Bug: exit frees what the /proc file's reads use, then sleeps, and only
 * then removes the file: a read in between uses freed memory.
 */
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

struct counter {
	char *label;
	unsigned long reads;
};

static struct counter *c;
static struct proc_dir_entry *ent;

static ssize_t counter_read(struct file *f, char __user *buf, size_t n, loff_t *pos)
{
	char line[64];
	int len;

	if (*pos == 0)
		c->reads++;
	len = scnprintf(line, sizeof(line), "%s: %lu\n", c->label, c->reads);
	return simple_read_from_buffer(buf, n, pos, line, len);
}

static const struct proc_ops counter_ops = {
	.proc_read = counter_read,
};

static int __init uaf_proc_read_init(void)
{
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	c->label = kstrdup("reads", GFP_KERNEL);
	if (!c->label)
		goto free_c;
	ent = proc_create("uaf_proc_read", 0444, NULL, &counter_ops);
	if (!ent)
		goto free_label;
	return 0;
free_label:
	kfree(c->label);
free_c:
	kfree(c);
	return -ENOMEM;
}

static void __exit uaf_proc_read_exit(void)
{
	kfree(c->label);
	kfree(c);
	msleep(100); /* let the hardware settle */
	proc_remove(ent);
}

module_init(uaf_proc_read_init);
module_exit(uaf_proc_read_exit);
MODULE_LICENSE("GPL");
