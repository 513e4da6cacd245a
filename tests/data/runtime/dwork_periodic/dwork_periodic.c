// SPDX-License-Identifier: GPL-2.0
/* Correct: delayed work that requeues itself every second, cancelled in exit. */
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

static int __init dwork_periodic_init(void)
{
	schedule_delayed_work(&poller, HZ);
	return 0;
}

static void __exit dwork_periodic_exit(void)
{
	cancel_delayed_work_sync(&poller);
	pr_info("dwork_periodic: %lu polls\n", polls);
}

module_init(dwork_periodic_init);
module_exit(dwork_periodic_exit);
MODULE_LICENSE("GPL");
