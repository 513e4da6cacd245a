// SPDX-License-Identifier: GPL-2.0
/* A consumer: calls a function that the provider, built in ../provider, exports. */
#include <linux/init.h>
#include <linux/module.h>

int xsym_add(int a, int b);

static int __init xsym_consumer_init(void)
{
	pr_info("xsym_consumer: 2 + 3 = %d\n", xsym_add(2, 3));
	return 0;
}

static void __exit xsym_consumer_exit(void)
{
}

module_init(xsym_consumer_init);
module_exit(xsym_consumer_exit);
MODULE_LICENSE("GPL");
