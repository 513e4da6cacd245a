// SPDX-License-Identifier: GPL-2.0
/*
 * Correct: a class registered from a static struct (class_register), a char
 * device and its struct device added together (cdev_device_add), and a kernel
 * thread bound to CPU 0 (kthread_create_on_cpu); each undone in reverse order.
 */
#include <linux/module.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/delay.h>

static struct class devmodel_class = { .name = "devmodel_ok", .owner = THIS_MODULE };
static dev_t devt;
static struct cdev cdev;
static struct device dev;
static struct task_struct *worker;
static const struct file_operations fops = { .owner = THIS_MODULE };

static void devmodel_release(struct device *d)
{
}

static int devmodel_work(void *data)
{
	while (!kthread_should_stop())
		msleep(20);
	return 0;
}

static int __init devmodel_init(void)
{
	int ret;

	ret = class_register(&devmodel_class);
	if (ret)
		return ret;
	ret = alloc_chrdev_region(&devt, 0, 1, "devmodel_ok");
	if (ret)
		goto unregister_class;
	cdev_init(&cdev, &fops);
	device_initialize(&dev);
	dev.devt = devt;
	dev.class = &devmodel_class;
	dev.release = devmodel_release;
	dev_set_name(&dev, "devmodel0");
	ret = cdev_device_add(&cdev, &dev);
	if (ret)
		goto put_dev;
	worker = kthread_create_on_cpu(devmodel_work, NULL, 0, "devmodel/%u");
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
	class_unregister(&devmodel_class);
	return ret;
}

static void __exit devmodel_exit(void)
{
	kthread_stop(worker);
	cdev_device_del(&cdev, &dev);
	put_device(&dev);
	unregister_chrdev_region(devt, 1);
	class_unregister(&devmodel_class);
}

module_init(devmodel_init);
module_exit(devmodel_exit);
MODULE_LICENSE("GPL");
