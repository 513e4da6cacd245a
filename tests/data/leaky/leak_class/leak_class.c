// SPDX-License-Identifier: GPL-2.0
/* Leaks a device class and one device in it: neither is destroyed in exit. */
#include <linux/device.h>
#include <linux/err.h>
#include <linux/kdev_t.h>
#include <linux/module.h>

static struct class *leak_class;

static int __init leak_class_init(void)
{
	struct device *dev;

	leak_class = class_create(THIS_MODULE, "leak_class");
	if (IS_ERR(leak_class))
		return PTR_ERR(leak_class);
	/* No dev_t: a sysfs-only device, so no /dev node and no chrdev region. */
	dev = device_create(leak_class, NULL, MKDEV(0, 0), NULL, "leak_class0");
	if (IS_ERR(dev)) {
		class_destroy(leak_class);
		return PTR_ERR(dev);
	}
	return 0;
}

static void __exit leak_class_exit(void)
{
	/* LEAK: device_destroy() and class_destroy() are missing */
}

module_init(leak_class_init);
module_exit(leak_class_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: leaks a class and a device");
