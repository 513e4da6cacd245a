// SPDX-License-Identifier: GPL-2.0
/* Wrong answer (capstone): exit forgets to remove /proc/kmodlab_counter. */
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

#define COUNTER_NAME "kmodlab_counter"
#define GREETER_NAME "kmodlab_greeter"

static const char greeting[] = "Hello from kmodlab!\n";
static atomic_t reads = ATOMIC_INIT(0);
static struct proc_dir_entry *counter_entry;

/* ---- /proc/kmodlab_counter ---------------------------------------------- */

static int counter_show(struct seq_file *m, void *v)
{
	seq_printf(m, "reads: %d\n", atomic_inc_return(&reads));
	return 0;
}

static int counter_open(struct inode *inode, struct file *file)
{
	return single_open(file, counter_show, NULL);
}

static const struct proc_ops counter_proc_ops = {
	.proc_open = counter_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

/* ---- /dev/kmodlab_greeter ------------------------------------------------ */

static ssize_t greeter_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	/* Copies from *ppos on and advances it: the read after the last byte returns 0. */
	return simple_read_from_buffer(buf, count, ppos, greeting, sizeof(greeting) - 1);
}

static const struct file_operations greeter_fops = {
	.owner = THIS_MODULE,
	.read = greeter_read,
	.llseek = default_llseek,
};

static struct miscdevice greeter_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = GREETER_NAME,
	.fops = &greeter_fops,
	.mode = 0444,
};

/* ---- the module ---------------------------------------------------------- */

static int __init capstone_init(void)
{
	int ret;

	counter_entry = proc_create(COUNTER_NAME, 0444, NULL, &counter_proc_ops);
	if (!counter_entry)
		return -ENOMEM;

	ret = misc_register(&greeter_misc);
	if (ret)
		goto remove_counter;

	pr_info("capstone: ready\n");
	return 0;

remove_counter:
	proc_remove(counter_entry);
	return ret;
}

static void __exit capstone_exit(void)
{
	misc_deregister(&greeter_misc);
	pr_info("capstone: goodbye after %d reads\n", atomic_read(&reads));
}

module_init(capstone_init);
module_exit(capstone_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("A /proc read counter and a greeting misc device");
