// SPDX-License-Identifier: GPL-2.0
/* Gives back its device numbers before deleting the cdev that uses them. */
#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/module.h>

static dev_t first;
static struct cdev cdev;
static const struct file_operations fops = { .owner = THIS_MODULE };

static int __init region_init(void)
{
	int err = alloc_chrdev_region(&first, 0, 1, "exit_order_region");

	if (err)
		return err;
	cdev_init(&cdev, &fops);
	err = cdev_add(&cdev, first, 1);
	if (err) {
		unregister_chrdev_region(first, 1);
		return err;
	}
	return 0;
}

static void __exit region_exit(void)
{
	unregister_chrdev_region(first, 1);
	cdev_del(&cdev);
}

module_init(region_init);
module_exit(region_exit);
MODULE_LICENSE("GPL");
