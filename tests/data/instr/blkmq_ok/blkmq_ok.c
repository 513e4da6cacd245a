// SPDX-License-Identifier: GPL-2.0
/* Correct: a blk-mq disk (major, tag set, disk, add_disk) completing every request. */
#include <linux/module.h>
#include <linux/blkdev.h>
#include <linux/blk-mq.h>

static int major;
static struct blk_mq_tag_set set;
static struct gendisk *disk;

static blk_status_t blkmq_ok_queue_rq(struct blk_mq_hw_ctx *hctx,
				       const struct blk_mq_queue_data *bd)
{
	blk_mq_start_request(bd->rq);
	blk_mq_end_request(bd->rq, BLK_STS_OK);
	return BLK_STS_OK;
}

static const struct blk_mq_ops mq_ops = { .queue_rq = blkmq_ok_queue_rq };
static const struct block_device_operations bdev_ops = { .owner = THIS_MODULE };

static int __init blkmq_ok_init(void)
{
	int ret;

	major = register_blkdev(0, "blkmq_ok");
	if (major < 0)
		return major;
	set.ops = &mq_ops;
	set.nr_hw_queues = 1;
	set.queue_depth = 16;
	set.numa_node = NUMA_NO_NODE;
	ret = blk_mq_alloc_tag_set(&set);
	if (ret)
		goto unregister;
	disk = blk_mq_alloc_disk(&set, NULL);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto free_set;
	}
	disk->major = major;
	disk->first_minor = 0;
	disk->minors = 1;
	disk->fops = &bdev_ops;
	snprintf(disk->disk_name, DISK_NAME_LEN, "blkmq_ok");
	set_capacity(disk, 64);
	ret = add_disk(disk);
	if (ret)
		goto put;
	return 0;
put:
	put_disk(disk);
free_set:
	blk_mq_free_tag_set(&set);
unregister:
	unregister_blkdev(major, "blkmq_ok");
	return ret;
}

static void __exit blkmq_ok_exit(void)
{
	del_gendisk(disk);
	put_disk(disk);
	blk_mq_free_tag_set(&set);
	unregister_blkdev(major, "blkmq_ok");
}

module_init(blkmq_ok_init);
module_exit(blkmq_ok_exit);
MODULE_LICENSE("GPL");
