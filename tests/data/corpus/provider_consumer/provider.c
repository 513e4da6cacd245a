// SPDX-License-Identifier: GPL-2.0
/* Clean pair, part 1: exports a function for the consumer. */
#include <linux/module.h>

int provider_add(int a, int b)
{
	return a + b;
}
EXPORT_SYMBOL_GPL(provider_add);

static int __init provider_init(void)
{
	pr_info("provider: ready\n");
	return 0;
}

static void __exit provider_exit(void)
{
	pr_info("provider: gone\n");
}

module_init(provider_init);
module_exit(provider_exit);
MODULE_LICENSE("GPL");
