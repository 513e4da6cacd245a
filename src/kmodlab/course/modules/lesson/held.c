// SPDX-License-Identifier: GPL-2.0
/*
 * held.ko: a misc device, /dev/kmodlab_held, whose file_operations name
 * their module as .owner (lesson 7's self-check: every open file holds a
 * reference on the module, counted in /sys/module/held/refcnt).
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static ssize_t held_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	return 0;
}

static const struct file_operations held_fops = {
	.owner = THIS_MODULE,
	.read = held_read,
};

static struct miscdevice held_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmodlab_held",
	.fops = &held_fops,
	.mode = 0444,
};

static int __init held_init(void)
{
	return misc_register(&held_misc);
}

static void __exit held_exit(void)
{
	misc_deregister(&held_misc);
}

module_init(held_init);
module_exit(held_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab lesson 7: a device whose open files hold the module");
