// SPDX-License-Identifier: GPL-2.0
/*
 * Leaks a misc device: misc_register without misc_deregister. The miscdevice
 * lives in module memory, so after rmmod misc_list points into freed memory:
 * reading /proc/misc or registering another misc device oopses.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static const struct file_operations leak_misc_fops = {
	.owner = THIS_MODULE,
};

static struct miscdevice leak_misc_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "leak_misc",
	.fops = &leak_misc_fops,
};

static int __init leak_misc_init(void)
{
	return misc_register(&leak_misc_dev);
}

static void __exit leak_misc_exit(void)
{
	/* LEAK: misc_deregister(&leak_misc_dev) is missing */
}

module_init(leak_misc_init);
module_exit(leak_misc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: leaks a misc device");
