// SPDX-License-Identifier: GPL-2.0
/*
 * Correct, but slow: init hands two seconds of busy work (a device that needs
 * a long settling time, say) to a tasklet and waits for it to finish. Twenty
 * load/unload cycles of it take forty seconds.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/module.h>

static DECLARE_COMPLETION(settled);

static void settle_fn(struct tasklet_struct *t)
{
	mdelay(2100);
	complete(&settled);
}

static DECLARE_TASKLET(settle, settle_fn);

static int __init slow_init_init(void)
{
	reinit_completion(&settled);
	tasklet_schedule(&settle);
	wait_for_completion(&settled);
	pr_info("slow_init: settled\n");
	return 0;
}

static void __exit slow_init_exit(void)
{
	tasklet_kill(&settle);
}

module_init(slow_init_init);
module_exit(slow_init_exit);
MODULE_LICENSE("GPL");
