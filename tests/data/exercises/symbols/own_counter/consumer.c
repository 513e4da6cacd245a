// SPDX-License-Identifier: GPL-2.0
/*
 * Wrong answer (symbols): the consumer counts greetings itself instead of
 * asking the provider.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "provider.h"

static unsigned int greeted;

static int __init consumer_init(void)
{
	provider_greet("consumer");
	greeted++;
	pr_info("consumer: greetings so far: %u\n", greeted);
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
