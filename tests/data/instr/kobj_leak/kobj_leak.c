// SPDX-License-Identifier: GPL-2.0
/* A kobject under /sys/kernel with one attribute file and one group. */
#include <linux/module.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>

static struct kobject *kobj;

static ssize_t value_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	return sysfs_emit(buf, "1\n");
}

static struct kobj_attribute value_attr = __ATTR_RO(value);
static struct kobj_attribute extra_attr = __ATTR(extra, 0444, value_show, NULL);
static struct attribute *extra_attrs[] = { &extra_attr.attr, NULL };
static const struct attribute_group group = { .name = "more", .attrs = extra_attrs };

static int __init kobj_leak_init(void)
{
	int ret;

	kobj = kobject_create_and_add("kobj_leak", kernel_kobj);
	if (!kobj)
		return -ENOMEM;
	ret = sysfs_create_file(kobj, &value_attr.attr);
	if (ret)
		goto put;
	ret = sysfs_create_group(kobj, &group);
	if (ret)
		goto remove_file;
	return 0;
remove_file:
	sysfs_remove_file(kobj, &value_attr.attr);
put:
	kobject_put(kobj);
	return ret;
}

static void __exit kobj_leak_exit(void)
{
	sysfs_remove_group(kobj, &group);
	sysfs_remove_file(kobj, &value_attr.attr);
	/* kobject_put(kobj) forgotten: /sys/kernel/kobj_leak stays */
}

module_init(kobj_leak_init);
module_exit(kobj_leak_exit);
MODULE_LICENSE("GPL");
