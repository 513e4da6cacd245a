// SPDX-License-Identifier: GPL-2.0
/* Leaks a character device major: register_chrdev without unregister_chrdev. */
#include <linux/fs.h>
#include <linux/module.h>

static const struct file_operations leak_chrdev_fops = {
	.owner = THIS_MODULE,
};

static int __init leak_chrdev_init(void)
{
	int major = register_chrdev(0, "leak_chrdev", &leak_chrdev_fops);

	if (major < 0)
		return major;
	pr_info("leak_chrdev: major %d\n", major);
	return 0;
}

static void __exit leak_chrdev_exit(void)
{
	/* LEAK: unregister_chrdev(major, "leak_chrdev") is missing */
}

module_init(leak_chrdev_init);
module_exit(leak_chrdev_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: leaks a chrdev major");
