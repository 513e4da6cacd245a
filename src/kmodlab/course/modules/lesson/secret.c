// SPDX-License-Identifier: GPL-2.0
/*
 * secret.ko: a module that says it is proprietary, and logs one line at a
 * level other than pr_info's (lesson 2's self-check: its taint letters and
 * the level of its line, read in the guest). Its source is kmodlab's; the
 * license string is what the lesson is about.
 */
#include <linux/module.h>

static int __init secret_init(void)
{
	pr_notice("secret: a module with a license the kernel does not trust\n");
	return 0;
}

static void __exit secret_exit(void)
{
}

module_init(secret_init);
module_exit(secret_exit);
MODULE_LICENSE("Proprietary");
MODULE_DESCRIPTION("kmodlab lesson 2: a non-GPL module, read by its taint");
