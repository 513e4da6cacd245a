// SPDX-License-Identifier: GPL-2.0
/* Wrong answer (symbols): the provider, as in the solution. */
#include <linux/atomic.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "provider.h"

static atomic_t greetings = ATOMIC_INIT(0);

void provider_greet(const char *who)
{
	atomic_inc(&greetings);
	pr_info("provider: hello, %s\n", who);
}
EXPORT_SYMBOL_GPL(provider_greet);

unsigned int provider_greetings(void)
{
	return atomic_read(&greetings);
}
EXPORT_SYMBOL(provider_greetings);

static int __init provider_init(void)
{
	pr_info("provider: ready\n");
	return 0;
}

static void __exit provider_exit(void)
{
	pr_info("provider: goodbye after %u greeting(s)\n", atomic_read(&greetings));
}

module_init(provider_init);
module_exit(provider_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Exports a greeting and a counter to other modules");
