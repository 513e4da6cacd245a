// SPDX-License-Identifier: GPL-2.0
/*
 * Wrong answer (unwinding): the ladder is right, but exit frees the state
 * that /proc/unwinding reads before it removes the entry: a read between the
 * kfree() and proc_remove() would use freed memory.
 */
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>

struct unwinding_state {
	char *owner;
};

static struct unwinding_state *state;
static struct proc_dir_entry *proc_entry;

static int unwinding_show(struct seq_file *m, void *v)
{
	seq_printf(m, "owner: %s\n", state->owner);
	return 0;
}

static int unwinding_proc_open(struct inode *inode, struct file *file)
{
	return single_open(file, unwinding_show, NULL);
}

static const struct proc_ops unwinding_proc_ops = {
	.proc_open = unwinding_proc_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static ssize_t unwinding_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	char line[64];
	int len = scnprintf(line, sizeof(line), "unwinding: owned by %s\n", state->owner);

	return simple_read_from_buffer(buf, count, ppos, line, len);
}

static const struct file_operations unwinding_fops = {
	.owner = THIS_MODULE,
	.read = unwinding_read,
	.llseek = default_llseek,
};

static struct miscdevice unwinding_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "unwinding",
	.fops = &unwinding_fops,
	.mode = 0444,
};

static int __init unwinding_init(void)
{
	int ret = -ENOMEM;

	state = kzalloc(sizeof(*state), GFP_KERNEL);
	if (!state)
		goto out;

	state->owner = kstrdup("kmodlab", GFP_KERNEL);
	if (!state->owner)
		goto free_state;

	proc_entry = proc_create("unwinding", 0444, NULL, &unwinding_proc_ops);
	if (!proc_entry)
		goto free_owner;

	ret = misc_register(&unwinding_misc);
	if (ret)
		goto remove_proc;

	pr_info("unwinding: ready\n");
	return 0;

remove_proc:
	proc_remove(proc_entry);
free_owner:
	kfree(state->owner);
free_state:
	kfree(state);
out:
	return ret;
}

static void __exit unwinding_exit(void)
{
	misc_deregister(&unwinding_misc);
	kfree(state->owner); /* too early: /proc/unwinding reads it */
	kfree(state); /* too early: /proc/unwinding reads it */
	proc_remove(proc_entry);
	pr_info("unwinding: goodbye\n");
}

module_init(unwinding_init);
module_exit(unwinding_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Acquires four resources and unwinds them on failure");
