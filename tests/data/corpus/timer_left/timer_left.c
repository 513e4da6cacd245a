// SPDX-License-Identifier: GPL-2.0
/* Bug: a timer keeps firing after exit, into code that rmmod freed (within 100 ms). */
#include <linux/module.h>
#include <linux/timer.h>

static struct timer_list tick;

static void tick_fn(struct timer_list *t)
{
	mod_timer(&tick, jiffies + msecs_to_jiffies(100));
}

static int __init timer_left_init(void)
{
	timer_setup(&tick, tick_fn, 0);
	mod_timer(&tick, jiffies + msecs_to_jiffies(100));
	return 0;
}

static void __exit timer_left_exit(void)
{
	/* forgot: del_timer_sync(&tick); */
}

module_init(timer_left_init);
module_exit(timer_left_exit);
MODULE_LICENSE("GPL");
