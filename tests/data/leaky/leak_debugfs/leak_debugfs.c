// SPDX-License-Identifier: GPL-2.0
/* Leaks a debugfs directory and a file in it: debugfs_remove_recursive is missing. */
#include <linux/debugfs.h>
#include <linux/module.h>

static u32 leak_debugfs_value = 42;

static int __init leak_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("leak_debugfs", NULL);

	debugfs_create_u32("value", 0444, dir, &leak_debugfs_value);
	return 0;
}

static void __exit leak_debugfs_exit(void)
{
	/* LEAK: debugfs_remove_recursive(dir) is missing */
}

module_init(leak_debugfs_init);
module_exit(leak_debugfs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: leaks debugfs entries");
