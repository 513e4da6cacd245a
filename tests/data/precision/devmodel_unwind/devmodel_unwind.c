// SPDX-License-Identifier: GPL-2.0
/*
 * Bug: init's error path is wrong twice: when alloc_chrdev_region fails it
 * returns without unregistering the class (class_register), and when
 * kthread_create_on_cpu fails it jumps past cdev_device_del (cdev_device_add).
 * exit is correct.
 */
#include <linux/module.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/delay.h>

static struct class devmodel_unwind_class = { .name = "devmodel_unwind", .owner = THIS_MODULE };
static dev_t devt;
static struct cdev cdev;
static struct device dev;
static struct task_struct *worker;
static const struct file_operations fops = { .owner = THIS_MODULE };

static void devmodel_unwind_release(struct device *d)
{
}

static int devmodel_unwind_work(void *data)
{
	while (!kthread_should_stop())
		msleep(20);
	return 0;
}

static int __init devmodel_unwind_init(void)
{
	int ret;

	ret = class_register(&devmodel_unwind_class);
	if (ret)
		return ret;
	ret = alloc_chrdev_region(&devt, 0, 1, "devmodel_unwind");
	if (ret)
		return ret;
	cdev_init(&cdev, &fops);
	device_initialize(&dev);
	dev.devt = devt;
	dev.class = &devmodel_unwind_class;
	dev.release = devmodel_unwind_release;
	dev_set_name(&dev, "devmodel0");
	ret = cdev_device_add(&cdev, &dev);
	if (ret)
		goto put_dev;
	worker = kthread_create_on_cpu(devmodel_unwind_work, NULL, 0, "devmodel/%u");
	if (IS_ERR(worker)) {
		ret = PTR_ERR(worker);
		goto put_dev;
	}
	wake_up_process(worker);
	return 0;
put_dev:
	put_device(&dev);
	unregister_chrdev_region(devt, 1);
	class_unregister(&devmodel_unwind_class);
	return ret;
}

static void __exit devmodel_unwind_exit(void)
{
	kthread_stop(worker);
	cdev_device_del(&cdev, &dev);
	put_device(&dev);
	unregister_chrdev_region(devt, 1);
	class_unregister(&devmodel_unwind_class);
}

module_init(devmodel_unwind_init);
module_exit(devmodel_unwind_exit);
MODULE_LICENSE("GPL");
