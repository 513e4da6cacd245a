// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 4, symbols (reference solution): consumer.ko, a module that uses what
 * provider.ko exports. Loading it makes the kernel resolve those symbols in
 * the provider, which then cannot be removed while the consumer is loaded.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "provider.h"

static int __init consumer_init(void)
{
	provider_greet("consumer");
	pr_info("consumer: greetings so far: %u\n", provider_greetings());
	return 0;
}

static void __exit consumer_exit(void)
{
	pr_info("consumer: goodbye\n");
}

module_init(consumer_init);
module_exit(consumer_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Calls the functions provider.ko exports");
