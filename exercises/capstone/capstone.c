// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 7, capstone: two interfaces to user space (the task is in README.md).
 *
 * /proc/kmodlab_counter  each read shows "reads: N", N counting the reads
 *                        since the module loaded, this one included
 * /dev/kmodlab_greeter   a misc device; reading it gives one greeting line,
 *                        then end of file
 *
 * The skeleton below builds and loads, but creates nothing yet.
 */
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

/* ---- /proc/kmodlab_counter ---------------------------------------------- */

static int counter_show(struct seq_file *m, void *v)
{
	/* TODO: count this read and show "reads: N" (the first read shows 1). */
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
	/*
	 * TODO: copy the greeting to user space from offset *ppos on, advance
	 * *ppos, and return 0 once everything has been read (end of file).
	 */
	return 0;
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
	/*
	 * TODO: create /proc/kmodlab_counter (mode 0444, counter_proc_ops),
	 * then register greeter_misc. If a step fails, undo the steps before
	 * it and return a negative errno.
	 */
	pr_info("capstone: ready\n");
	return 0;
}

static void __exit capstone_exit(void)
{
	/* TODO: remove what init created, newest first. */
	pr_info("capstone: goodbye after %d reads\n", atomic_read(&reads));
}

module_init(capstone_init);
module_exit(capstone_exit);

MODULE_LICENSE("GPL");
/* TODO: MODULE_AUTHOR with your name */
MODULE_DESCRIPTION("A /proc read counter and a greeting misc device");
