// SPDX-License-Identifier: GPL-2.0
/*
 * Registers four things and releases all of them in reverse order: the
 * witnesses must see no leftover and no unfreed allocation.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

struct clean_four_state {
	int major;
	char note[48];
};

static struct clean_four_state *state;

static const struct file_operations clean_four_fops = {
	.owner = THIS_MODULE,
};

static struct miscdevice clean_four_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "clean_four",
	.fops = &clean_four_fops,
};

static int clean_four_show(struct seq_file *m, void *v)
{
	seq_printf(m, "major %d\n", state->major);
	return 0;
}

static int __init clean_four_init(void)
{
	int err;

	state = kzalloc(sizeof(*state), GFP_KERNEL);
	if (!state)
		return -ENOMEM;
	if (!proc_create_single("clean_four", 0444, NULL, clean_four_show)) {
		err = -ENOMEM;
		goto free_state;
	}
	state->major = register_chrdev(0, "clean_four", &clean_four_fops);
	if (state->major < 0) {
		err = state->major;
		goto remove_proc;
	}
	err = misc_register(&clean_four_misc);
	if (err)
		goto unregister_chrdev;
	return 0;

unregister_chrdev:
	unregister_chrdev(state->major, "clean_four");
remove_proc:
	remove_proc_entry("clean_four", NULL);
free_state:
	kfree(state);
	return err;
}

static void __exit clean_four_exit(void)
{
	misc_deregister(&clean_four_misc);
	unregister_chrdev(state->major, "clean_four");
	remove_proc_entry("clean_four", NULL);
	kfree(state);
}

module_init(clean_four_init);
module_exit(clean_four_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: registers four things, releases them all");
