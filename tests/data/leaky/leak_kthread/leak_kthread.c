// SPDX-License-Identifier: GPL-2.0
/*
 * Leaks a kernel thread: started in init, never stopped in exit. Its code is
 * freed at rmmod, so the guest oopses when the thread next wakes up: it sleeps
 * a minute at a time to leave the test time to observe it, and the guest must
 * be thrown away afterwards.
 */
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>

static int leak_kthread_fn(void *data)
{
	while (!kthread_should_stop())
		msleep_interruptible(60000);
	return 0;
}

static int __init leak_kthread_init(void)
{
	struct task_struct *t = kthread_run(leak_kthread_fn, NULL, "leak_kthread");

	return PTR_ERR_OR_ZERO(t);
}

static void __exit leak_kthread_exit(void)
{
	/* LEAK: kthread_stop(t) is missing */
}

module_init(leak_kthread_init);
module_exit(leak_kthread_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: leaks a kernel thread");
