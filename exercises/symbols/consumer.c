// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 4, symbols: consumer.ko, a module that uses what provider.ko exports.
 * Loading it makes the kernel resolve those symbols in the provider, which
 * then cannot be removed while the consumer is loaded.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "provider.h"

static int __init consumer_init(void)
{
	/*
	 * TODO: greet "consumer" with provider_greet(), then log
	 * "consumer: greetings so far: N" with N from provider_greetings().
	 * (The build fails until provider.c exports provider_greet.)
	 */
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
