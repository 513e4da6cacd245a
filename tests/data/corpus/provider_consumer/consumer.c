// SPDX-License-Identifier: GPL-2.0
/* Clean pair, part 2: uses the provider's exported function. */
#include <linux/module.h>

int provider_add(int a, int b);

static int __init consumer_init(void)
{
	pr_info("consumer: 2 + 3 = %d\n", provider_add(2, 3));
	return 0;
}

static void __exit consumer_exit(void)
{
	pr_info("consumer: gone\n");
}

module_init(consumer_init);
module_exit(consumer_exit);
MODULE_LICENSE("GPL");
