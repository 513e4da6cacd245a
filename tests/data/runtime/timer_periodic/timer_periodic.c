// SPDX-License-Identifier: GPL-2.0
/* Correct: a timer that fires every second, deleted (and waited for) in exit. */
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/timer.h>

static struct timer_list heartbeat;
static unsigned long beats;

static void heartbeat_fn(struct timer_list *t)
{
	beats++;
	mod_timer(&heartbeat, jiffies + HZ);
}

static int __init timer_periodic_init(void)
{
	timer_setup(&heartbeat, heartbeat_fn, 0);
	mod_timer(&heartbeat, jiffies + HZ);
	return 0;
}

static void __exit timer_periodic_exit(void)
{
	del_timer_sync(&heartbeat);
	pr_info("timer_periodic: %lu beats\n", beats);
}

module_init(timer_periodic_init);
module_exit(timer_periodic_exit);
MODULE_LICENSE("GPL");
