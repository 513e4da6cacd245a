// SPDX-License-Identifier: GPL-2.0
/*
 * The mutant of kthread_self_end: the thread means to end itself, but only
 * after ten minutes, and exit no longer waits for it. It is still alive after
 * rmmod (and returns into freed code later: the guest must be thrown away).
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>

static DECLARE_COMPLETION(done);
static struct task_struct *worker;

static int worker_fn(void *data)
{
	msleep_interruptible(600000);
	kthread_complete_and_exit(&done, 0);
}

static int __init left_init(void)
{
	worker = kthread_run(worker_fn, NULL, "kmodlab_left");
	if (IS_ERR(worker))
		return PTR_ERR(worker);
	return 0;
}

static void __exit left_exit(void)
{
	/* BUG: wait_for_completion(&done) is missing */
}

module_init(left_init);
module_exit(left_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: a kernel thread left running after rmmod");
