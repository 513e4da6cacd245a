// SPDX-License-Identifier: GPL-2.0
/*
 * A correct module whose kernel thread ends itself: it does its work, then
 * kthread_complete_and_exit(); exit waits on the completion. No kthread_stop:
 * calling it on a thread that has exited would be the bug.
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
	msleep(20);
	pr_info("kthread_self_end: work done\n");
	kthread_complete_and_exit(&done, 0);
}

static int __init self_end_init(void)
{
	reinit_completion(&done);
	worker = kthread_run(worker_fn, NULL, "kmodlab_selfend");
	if (IS_ERR(worker))
		return PTR_ERR(worker);
	return 0;
}

static void __exit self_end_exit(void)
{
	wait_for_completion(&done);
}

module_init(self_end_init);
module_exit(self_end_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: a kernel thread that ends itself");
