// SPDX-License-Identifier: GPL-2.0
/* Bug: an hrtimer with a one-second period, never cancelled. */
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/module.h>

static struct hrtimer ticker;
static unsigned long ticks;

static enum hrtimer_restart ticker_fn(struct hrtimer *t)
{
	ticks++;
	hrtimer_forward_now(t, ms_to_ktime(1000));
	return HRTIMER_RESTART;
}

static int __init hrtimer_left_armed_init(void)
{
	hrtimer_init(&ticker, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	ticker.function = ticker_fn;
	hrtimer_start(&ticker, ms_to_ktime(1000), HRTIMER_MODE_REL);
	return 0;
}

static void __exit hrtimer_left_armed_exit(void)
{
	/* forgot: hrtimer_cancel(&ticker); */
	pr_info("hrtimer_left_armed: %lu ticks\n", ticks);
}

module_init(hrtimer_left_armed_init);
module_exit(hrtimer_left_armed_exit);
MODULE_LICENSE("GPL");
