// SPDX-License-Identifier: GPL-2.0
/*
 * mydev: a misc character device with a private buffer.
 * A sample student submission for the report renderers' golden files:
 * its error path skips a label, so a failed misc_register leaks priv.
 */
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>

#define BUF_SIZE 4096

struct mydev {
	char *buf;
};

static struct mydev *priv;
static char *scratch;
static struct miscdevice mydev_misc;

static int __init mydev_init(void)
{
	int ret;
	scratch = kmalloc(BUF_SIZE, GFP_KERNEL);
	if (!scratch) return -ENOMEM;
	priv = kzalloc(sizeof(*priv), GFP_KERNEL);
	if (!priv) { ret = -ENOMEM; goto err_scratch; }
	mydev_misc.minor = MISC_DYNAMIC_MINOR;
	mydev_misc.name = "mydev";
	ret = misc_register(&mydev_misc);
	if (ret)
		goto err_scratch;	/* should be err_priv */
	return 0;

err_priv:
	kfree(priv);
err_scratch:
	kfree(scratch);
	return ret;
}

static void __exit mydev_exit(void)
{
	misc_deregister(&mydev_misc);
	kfree(priv);
	kfree(scratch);
}

module_init(mydev_init);
module_exit(mydev_exit);
MODULE_LICENSE("GPL");
