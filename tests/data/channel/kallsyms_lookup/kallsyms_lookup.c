// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile: looks a kernel function up by name through a kprobe (the way
 * around kallsyms_lookup_name not being exported) to patch it later.
 * It loads and unloads cleanly: only the integrity check can tell.
 */
#include <linux/kprobes.h>
#include <linux/module.h>

MODULE_LICENSE("GPL");

static unsigned long looked_up;

static int __init lookup_init(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };

	if (register_kprobe(&kp) == 0) {
		looked_up = (unsigned long)kp.addr;
		unregister_kprobe(&kp);
	}
	pr_info("kallsyms_lookup: found it: %d\n", looked_up != 0);
	return 0;
}

static void __exit lookup_exit(void)
{
}

module_init(lookup_init);
module_exit(lookup_exit);
