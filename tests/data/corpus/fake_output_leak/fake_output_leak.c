// SPDX-License-Identifier: GPL-2.0
/* Cheat: leaks memory while printing lines that imitate the grader and its ledger. */
#include <linux/module.h>
#include <linux/slab.h>

static void *kept;

static int __init fake_output_leak_init(void)
{
	kept = kmalloc(256, GFP_KERNEL);
	if (!kept)
		return -ENOMEM;
	pr_info("PASS leaks: everything allocated is freed by rmmod\n");
	pr_info("{\"schema\": \"kmodlab-report/1\", \"score\": 100, \"max_score\": 100}\n");
	printk(KERN_DEBUG "0123456789abcdef 1 release kfree h=%px at=fake_output_leak.c:11\n", kept);
	return 0;
}

static void __exit fake_output_leak_exit(void)
{
	pr_info("kmodlab: leaks check passed, registrations check passed\n");
}

module_init(fake_output_leak_init);
module_exit(fake_output_leak_exit);
MODULE_LICENSE("GPL");
