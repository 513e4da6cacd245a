// SPDX-License-Identifier: GPL-2.0
/*
 * A correct debugfs user: as the debugfs API asks, nothing it returns is
 * checked. When creating the file fails, init still returns 0, and exit
 * removes the directory (with whatever is in it).
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>

static struct dentry *dir;
static char value[] = "42\n";

static ssize_t value_read(struct file *f, char __user *to, size_t n, loff_t *pos)
{
	return simple_read_from_buffer(to, n, pos, value, sizeof(value) - 1);
}

static const struct file_operations value_fops = {
	.owner = THIS_MODULE,
	.read = value_read,
};

static int __init dbg_init(void)
{
	dir = debugfs_create_dir("kmodlab_dbg", NULL);
	debugfs_create_file("value", 0444, dir, NULL, &value_fops);
	return 0;
}

static void __exit dbg_exit(void)
{
	debugfs_remove(dir);
}

module_init(dbg_init);
module_exit(dbg_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: debugfs results left unchecked, as the API asks");
