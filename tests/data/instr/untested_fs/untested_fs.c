// SPDX-License-Identifier: GPL-2.0
/* Correct: registers a filesystem type, which kmodlab cannot fail on purpose; the
 * fault-injection check must say so rather than claim the call was tested. */
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/slab.h>

static struct file_system_type untested_type = {
	.owner = THIS_MODULE,
	.name = "untestedfs",
	.kill_sb = kill_anon_super,
};
static void *state;

static int __init untested_fs_init(void)
{
	int ret;

	state = kzalloc(32, GFP_KERNEL);
	if (!state)
		return -ENOMEM;
	ret = register_filesystem(&untested_type);
	if (ret)
		kfree(state);
	return ret;
}

static void __exit untested_fs_exit(void)
{
	unregister_filesystem(&untested_type);
	kfree(state);
}

module_init(untested_fs_init);
module_exit(untested_fs_exit);
MODULE_LICENSE("GPL");
