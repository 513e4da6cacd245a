// SPDX-License-Identifier: GPL-2.0
/*
 * Leaks a string made by kasprintf(): memory the kernel allocates on the
 * module's behalf (the kmem tracepoint names kvasprintf as the call site,
 * so only the ledger sees it). The grader must call it a leak of memory,
 * not a registration left behind.
 */
#include <linux/module.h>
#include <linux/slab.h>

static char *label;

static int __init leak_kasprintf_init(void)
{
	label = kasprintf(GFP_KERNEL, "leak_kasprintf-%d", 1); /* LEAK: never freed */
	if (!label)
		return -ENOMEM;
	pr_info("leak_kasprintf: %s\n", label);
	return 0;
}

static void __exit leak_kasprintf_exit(void)
{
	pr_info("leak_kasprintf: bye\n");
}

module_init(leak_kasprintf_init);
module_exit(leak_kasprintf_exit);
MODULE_LICENSE("GPL");
