// SPDX-License-Identifier: GPL-2.0
/*
 * Bug: exit never removes the char device and its struct device
 * (cdev_device_add); the class and the CPU-bound thread are undone correctly.
 */
#include <linux/module.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/delay.h>

static struct class cdev_leak_class = { .name = "cdev_leak", .owner = THIS_MODULE };
static dev_t devt;
static struct cdev cdev;
static struct device dev;
static struct task_struct *worker;
static const struct file_operations fops = { .owner = THIS_MODULE };

static void cdev_leak_release(struct device *d)
{
}

static int cdev_leak_work(void *data)
{
	while (!kthread_should_stop())
		msleep(20);
	return 0;
}

static int __init cdev_leak_init(void)
{
	int ret;

	ret = class_register(&cdev_leak_class);
	if (ret)
		return ret;
	ret = alloc_chrdev_region(&devt, 0, 1, "cdev_leak");
	if (ret)
		goto unregister_class;
	cdev_init(&cdev, &fops);
	device_initialize(&dev);
	dev.devt = devt;
	dev.class = &cdev_leak_class;
	dev.release = cdev_leak_release;
	dev_set_name(&dev, "devmodel0");
	ret = cdev_device_add(&cdev, &dev);
	if (ret)
		goto put_dev;
	worker = kthread_create_on_cpu(cdev_leak_work, NULL, 0, "devmodel/%u");
	if (IS_ERR(worker)) {
		ret = PTR_ERR(worker);
		goto del_cdev;
	}
	wake_up_process(worker);
	return 0;
del_cdev:
	cdev_device_del(&cdev, &dev);
put_dev:
	put_device(&dev);
	unregister_chrdev_region(devt, 1);
unregister_class:
	class_unregister(&cdev_leak_class);
	return ret;
}

static void __exit cdev_leak_exit(void)
{
	kthread_stop(worker);
	unregister_chrdev_region(devt, 1);
	class_unregister(&cdev_leak_class);
}

module_init(cdev_leak_init);
module_exit(cdev_leak_exit);
MODULE_LICENSE("GPL");
