// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: as four_resources, but the error path taken when misc_register
 * fails frees the name and then jumps past the kfree of the buffer: a leak
 * only when that point fails.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>

static char *buf;
static char *name;
static struct proc_dir_entry *entry;

static int ladder_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", name);
	return 0;
}

static int ladder_open(struct inode *inode, struct file *file)
{
	return single_open(file, ladder_show, NULL);
}

static const struct proc_ops ladder_proc_ops = {
	.proc_open = ladder_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static const struct file_operations ladder_fops = {
	.owner = THIS_MODULE,
};

static struct miscdevice ladder_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ladder_skips_one",
	.fops = &ladder_fops,
};

static int __init ladder_init(void)
{
	int ret = -ENOMEM;

	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		goto out;
	name = kstrdup("ladder", GFP_KERNEL);
	if (!name)
		goto free_buf;
	entry = proc_create("ladder_skips_one", 0444, NULL, &ladder_proc_ops);
	if (!entry)
		goto free_name;
	ret = misc_register(&ladder_misc);
	if (ret)
		goto remove_entry;
	return 0;

remove_entry:
	proc_remove(entry);
	kfree(name);
	goto out; /* the bug: skips kfree(buf) */
free_name:
	kfree(name);
free_buf:
	kfree(buf);
out:
	return ret;
}

static void __exit ladder_exit(void)
{
	misc_deregister(&ladder_misc);
	proc_remove(entry);
	kfree(name);
	kfree(buf);
}

module_init(ladder_init);
module_exit(ladder_exit);
MODULE_LICENSE("GPL");
