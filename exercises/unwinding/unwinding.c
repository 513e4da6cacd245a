// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 6, unwinding: an init that acquires four resources, and must undo
 * the ones it holds when a later one fails.
 *
 * Everything works here as long as nothing fails. Your job is the error
 * handling of unwinding_init(): every acquisition can fail, and then init
 * must release what it already holds, newest first, and return a negative
 * errno. exit, which undoes all four in reverse order, is done.
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
	/* TODO: if it failed, return -ENOMEM: there is nothing to undo yet. */

	state->owner = kstrdup("kmodlab", GFP_KERNEL);
	/* TODO: if it failed, free state and return -ENOMEM. */

	proc_entry = proc_create("unwinding", 0444, NULL, &unwinding_proc_ops);
	/* TODO: if it failed, free both allocations and return -ENOMEM. */

	ret = misc_register(&unwinding_misc);
	/* TODO: if it failed (ret is not 0), undo all of the above and return ret. */

	pr_info("unwinding: ready\n");
	return 0;

	/*
	 * TODO: the unwind ladder. Rather than repeating the clean-up after
	 * every check, each check does "goto <label>;", and the labels come
	 * here, in the reverse order of the acquisitions, each undoing one
	 * resource and falling through to the next label. The last label
	 * only returns ret.
	 */
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
