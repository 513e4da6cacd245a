// SPDX-License-Identifier: GPL-2.0
/* A buffer, the device numbers and a cdev, a /proc file: released in reverse. */
#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

static char *msg;
static dev_t first;
static struct cdev cdev;
static struct proc_dir_entry *ent;
static const struct file_operations fops = { .owner = THIS_MODULE };

static int show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", msg);
	return 0;
}

static int __init rev_init(void)
{
	int err = -ENOMEM;

	msg = kstrdup("reverse", GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	err = alloc_chrdev_region(&first, 0, 1, "reverse_order");
	if (err)
		goto free_msg;
	cdev_init(&cdev, &fops);
	err = cdev_add(&cdev, first, 1);
	if (err)
		goto unregister;
	ent = proc_create_single("reverse_order", 0444, NULL, show);
	if (!ent) {
		err = -ENOMEM;
		goto del_cdev;
	}
	return 0;

del_cdev:
	cdev_del(&cdev);
unregister:
	unregister_chrdev_region(first, 1);
free_msg:
	kfree(msg);
	return err;
}

static void __exit rev_exit(void)
{
	proc_remove(ent);
	cdev_del(&cdev);
	unregister_chrdev_region(first, 1);
	kfree(msg);
}

module_init(rev_init);
module_exit(rev_exit);
MODULE_LICENSE("GPL");
