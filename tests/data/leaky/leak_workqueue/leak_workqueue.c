// SPDX-License-Identifier: GPL-2.0
/*
 * Leaks a workqueue: init allocates it, exit forgets destroy_workqueue().
 * Without WQ_SYSFS or a rescuer it shows nowhere in /sys or /proc, so only
 * the ledger sees it left behind.
 */
#include <linux/module.h>
#include <linux/workqueue.h>

static struct workqueue_struct *wq;

static int __init leak_workqueue_init(void)
{
	wq = alloc_workqueue("leak_workqueue", 0, 1); /* LEAK: never destroyed */
	if (!wq)
		return -ENOMEM;
	pr_info("leak_workqueue: ready\n");
	return 0;
}

static void __exit leak_workqueue_exit(void)
{
	pr_info("leak_workqueue: bye\n");
}

module_init(leak_workqueue_init);
module_exit(leak_workqueue_exit);
MODULE_LICENSE("GPL");
