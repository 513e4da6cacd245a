// SPDX-License-Identifier: MIT
/* Bug: a non-GPL module using a GPL-only export (debugfs_create_dir). */
#include <linux/debugfs.h>
#include <linux/module.h>

static struct dentry *dir;

static int __init gpl_only_init(void)
{
	dir = debugfs_create_dir("gpl_only", NULL);
	return 0;
}

static void __exit gpl_only_exit(void)
{
	debugfs_remove(dir);
}

module_init(gpl_only_init);
module_exit(gpl_only_exit);
MODULE_LICENSE("Proprietary");
