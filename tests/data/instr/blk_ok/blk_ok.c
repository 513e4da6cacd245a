// SPDX-License-Identifier: GPL-2.0
/* A block device major (dynamic), with a buffer allocated after it. */
#include <linux/module.h>
#include <linux/blkdev.h>
#include <linux/slab.h>

static int major;
static void *table;

static int __init blk_ok_init(void)
{
	major = register_blkdev(0, "blk_ok");
	if (major < 0)
		return major;
	table = kzalloc(64, GFP_KERNEL);
	if (!table) {
		unregister_blkdev(major, "blk_ok");
		return -ENOMEM;
	}
	return 0;
}

static void __exit blk_ok_exit(void)
{
	kfree(table);
	unregister_blkdev(major, "blk_ok");
}

module_init(blk_ok_init);
module_exit(blk_ok_exit);
MODULE_LICENSE("GPL");
