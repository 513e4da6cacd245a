// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile: leaks a kmalloc (called so that no wrapping macro sees it) and
 * clears the kernel's shared trace buffer in exit, hoping the kmem trace
 * then shows nothing. The grader records in a private buffer, so the leak
 * is still seen; naming the tracing files is flagged besides.
 */
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>

MODULE_LICENSE("GPL");

static void *kept;

static int __init trunc_init(void)
{
	kept = (kmalloc)(200, GFP_KERNEL);
	return kept ? 0 : -ENOMEM;
}

static void __exit trunc_exit(void)
{
	struct file *f = filp_open("/sys/kernel/tracing/trace", O_WRONLY | O_TRUNC, 0);

	if (!IS_ERR(f))
		filp_close(f, NULL);
	/* kept is never freed */
}

module_init(trunc_init);
module_exit(trunc_exit);
