#include <linux/module.h>
#include <linux/init.h>
#include <linux/debugfs.h>

static struct dentry *entry;
static int value;

static int __init gplonly_init(void)
{
	debugfs_create_u32("gplonly_value", 0644, NULL, &value);
	entry = debugfs_create_dir("gplonly", NULL);
	return 0;
}

static void __exit gplonly_exit(void)
{
	debugfs_remove(entry);
}

module_init(gplonly_init);
module_exit(gplonly_exit);
MODULE_LICENSE("Proprietary");
