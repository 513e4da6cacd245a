// SPDX-License-Identifier: GPL-2.0
/*
 * Correct: a /proc file that reports a counter kept in a kmalloc'd struct.
 * Exit removes the file first (proc_remove waits for reads in progress),
 * then frees what the reads use.
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

static int __init proc_read_ok_init(void)
{
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	c->label = kstrdup("reads", GFP_KERNEL);
	if (!c->label)
		goto free_c;
	ent = proc_create("proc_read_ok", 0444, NULL, &counter_ops);
	if (!ent)
		goto free_label;
	return 0;
free_label:
	kfree(c->label);
free_c:
	kfree(c);
	return -ENOMEM;
}

static void __exit proc_read_ok_exit(void)
{
	proc_remove(ent);
	msleep(100); /* let the hardware settle */
	kfree(c->label);
	kfree(c);
}

module_init(proc_read_ok_init);
module_exit(proc_read_ok_exit);
MODULE_LICENSE("GPL");
