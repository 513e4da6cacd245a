// SPDX-License-Identifier: GPL-2.0
/*
 * Clean, but kmodlab's instrumentation cannot build it: a struct member is
 * called kstrdup, and the instrumented build's kstrdup() macro rewrites the
 * member call. The grader must fall back to the plain build and say so.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

struct dup_ops {
	char *(*kstrdup)(const char *s, gfp_t gfp);
};

static char *copy;

static int __init odd_member_init(void)
{
	struct dup_ops ops = { .kstrdup = kstrdup };

	copy = ops.kstrdup("odd member", GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	pr_info("odd_member: %s\n", copy);
	return 0;
}

static void __exit odd_member_exit(void)
{
	kfree(copy);
}

module_init(odd_member_init);
module_exit(odd_member_exit);
MODULE_LICENSE("GPL");
