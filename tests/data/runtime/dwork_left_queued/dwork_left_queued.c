// SPDX-License-Identifier: GPL-2.0
/* Bug: delayed work that requeues itself every second, never cancelled. */
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/workqueue.h>

static unsigned long polls;
static void poll_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(poller, poll_fn);

static void poll_fn(struct work_struct *work)
{
	polls++;
	schedule_delayed_work(&poller, HZ);
}

static int __init dwork_left_queued_init(void)
{
	schedule_delayed_work(&poller, HZ);
	return 0;
}

static void __exit dwork_left_queued_exit(void)
{
	/* forgot: cancel_delayed_work_sync(&poller); */
	pr_info("dwork_left_queued: %lu polls\n", polls);
}

module_init(dwork_left_queued_init);
module_exit(dwork_left_queued_exit);
MODULE_LICENSE("GPL");
