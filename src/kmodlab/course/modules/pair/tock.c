// SPDX-License-Identifier: GPL-2.0
/* tock.ko: calls what tick.ko exports (lesson 3's module pair, the consumer). */
#include <linux/module.h>

int tick_next(void);

static int __init tock_init(void)
{
	pr_info("tock: tick says %d\n", tick_next());
	return 0;
}

static void __exit tock_exit(void)
{
	pr_info("tock: done\n");
}

module_init(tock_init);
module_exit(tock_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab lesson 3: the consumer of a module pair");
