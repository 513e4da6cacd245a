// SPDX-License-Identifier: GPL-2.0
/*
 * Bug: the tasklet never signals the completion, so init waits forever: a
 * hung init, which must still be reported as stuck (slow_init is the fix).
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/module.h>

static DECLARE_COMPLETION(settled);

static void settle_fn(struct tasklet_struct *t)
{
	mdelay(2100);
	/* Bug: never says it is done; init waits forever. */
}

static DECLARE_TASKLET(settle, settle_fn);

static int __init slow_init_hung_init(void)
{
	reinit_completion(&settled);
	tasklet_schedule(&settle);
	wait_for_completion(&settled);
	pr_info("slow_init_hung: settled\n");
	return 0;
}

static void __exit slow_init_hung_exit(void)
{
	tasklet_kill(&settle);
}

module_init(slow_init_hung_init);
module_exit(slow_init_hung_exit);
MODULE_LICENSE("GPL");
