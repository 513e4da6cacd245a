// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: four resources acquired in init with a correct goto ladder, and an
 * exit that releases them all in reverse order. No injection point leaks.
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

static int four_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", name);
	return 0;
}

static int four_open(struct inode *inode, struct file *file)
{
	return single_open(file, four_show, NULL);
}

static const struct proc_ops four_proc_ops = {
	.proc_open = four_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static const struct file_operations four_fops = {
	.owner = THIS_MODULE,
};

static struct miscdevice four_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "four_resources",
	.fops = &four_fops,
};

static int __init four_init(void)
{
	int ret = -ENOMEM;

	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		goto out;
	name = kstrdup("four", GFP_KERNEL);
	if (!name)
		goto free_buf;
	entry = proc_create("four_resources", 0444, NULL, &four_proc_ops);
	if (!entry)
		goto free_name;
	ret = misc_register(&four_misc);
	if (ret)
		goto remove_entry;
	return 0;

remove_entry:
	proc_remove(entry);
free_name:
	kfree(name);
free_buf:
	kfree(buf);
out:
	return ret;
}

static void __exit four_exit(void)
{
	misc_deregister(&four_misc);
	proc_remove(entry);
	kfree(name);
	kfree(buf);
}

module_init(four_init);
module_exit(four_exit);
MODULE_LICENSE("GPL");
