// SPDX-License-Identifier: GPL-2.0
/*
 * Both rungs of init's error path end in the same wrong put: a refcount
 * that was never taken, so the kernel warns "refcount_t: underflow". That
 * warning is a WARN_ONCE in the kernel's own code: once per boot. Each
 * failure point must still see it, though the points share a guest.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/refcount.h>
#include <linux/slab.h>

static refcount_t users = REFCOUNT_INIT(0);
static char *first;
static char *second;

static int __init warn_twice_init(void)
{
	first = kmalloc(32, GFP_KERNEL);
	if (!first)
		goto fail_first;
	second = kmalloc(32, GFP_KERNEL);
	if (!second)
		goto fail_second;
	refcount_set(&users, 1);
	return 0;

fail_second:
	kfree(first);
fail_first:
	refcount_dec(&users); /* bug: never taken on this path */
	return -ENOMEM;
}

static void __exit warn_twice_exit(void)
{
	kfree(second);
	kfree(first);
}

module_init(warn_twice_init);
module_exit(warn_twice_exit);
MODULE_LICENSE("GPL");
