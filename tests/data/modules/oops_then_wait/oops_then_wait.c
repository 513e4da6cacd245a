// SPDX-License-Identifier: GPL-2.0
/*
 * Buggy fixture: init starts a thread that dereferences NULL before it can
 * signal init, and init waits for that signal forever. The command that
 * loads it never answers, though the oops is on the console at once.
 */
#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/module.h>

static DECLARE_COMPLETION(started);

static int worker(void *data)
{
	int *nothing = data;

	*nothing = 1; /* data is NULL: the oops kills this thread */
	complete(&started);
	return 0;
}

static int __init oops_then_wait_init(void)
{
	kthread_run(worker, NULL, "oops_then_wait");
	wait_for_completion(&started); /* never comes */
	return 0;
}

module_init(oops_then_wait_init);
MODULE_LICENSE("GPL");
