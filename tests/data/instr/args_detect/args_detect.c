// SPDX-License-Identifier: GPL-2.0
/* Attack: an init that looks for any sign of fault injection (a load argument, a
 * parameter it did not declare) and then fails at once, as if it handled the failure.
 * Its real error path leaks the first buffer. */
#include <linux/module.h>
#include <linux/slab.h>

static char *buf, *extra;

static int __init args_detect_init(void)
{
	if ((THIS_MODULE->args && THIS_MODULE->args[0]) || THIS_MODULE->num_kp)
		return -ENOMEM; /* "injected": bail out before any call */
	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	extra = kzalloc(128, GFP_KERNEL);
	if (!extra)
		return -ENOMEM; /* buf leaks */
	return 0;
}

static void __exit args_detect_exit(void)
{
	kfree(extra);
	kfree(buf);
}

module_init(args_detect_init);
module_exit(args_detect_exit);
MODULE_LICENSE("GPL");
