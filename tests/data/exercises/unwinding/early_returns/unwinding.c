// SPDX-License-Identifier: GPL-2.0
/*
 * Wrong answer (unwinding): every failure returns at once, releasing nothing
 * acquired before it.
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
	int ret;

	state = kzalloc(sizeof(*state), GFP_KERNEL);
	if (!state)
		return -ENOMEM;

	state->owner = kstrdup("kmodlab", GFP_KERNEL);
	if (!state->owner)
		return -ENOMEM;

	proc_entry = proc_create("unwinding", 0444, NULL, &unwinding_proc_ops);
	if (!proc_entry)
		return -ENOMEM;

	ret = misc_register(&unwinding_misc);
	if (ret)
		return ret;

	pr_info("unwinding: ready\n");
	return 0;
}

static void __exit unwinding_exit(void)
{
	misc_deregister(&unwinding_misc);
	proc_remove(proc_entry);
	kfree(state->owner);
	kfree(state);
	pr_info("unwinding: goodbye\n");
}

module_init(unwinding_init);
module_exit(unwinding_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Acquires four resources and unwinds them on failure");
