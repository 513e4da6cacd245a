// SPDX-License-Identifier: GPL-2.0
/*
 * Control for the static rules: a clean module whose comments and messages
 * mention what the hostile ones do (/sys/kernel/debug, #line, .incbin,
 * kallsyms_lookup_name, fget) without doing any of it, and whose own names
 * start with kmodlab_ as the course's exercises do.
 */
#include <linux/module.h>
#include <linux/slab.h>

MODULE_LICENSE("GPL");

static char *kmodlab_buf;

static int __init clean_init(void)
{
	kmodlab_buf = kzalloc(64, GFP_KERNEL);
	if (!kmodlab_buf)
		return -ENOMEM;
	pr_info("control_clean: nothing in /sys/kernel/debug/kmodlab_control\n");
	return 0;
}

static void __exit clean_exit(void)
{
	kfree(kmodlab_buf);
}

module_init(clean_init);
module_exit(clean_exit);
