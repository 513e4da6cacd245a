// SPDX-License-Identifier: GPL-2.0
/* tick.ko: exports a counter (lesson 3's module pair, the provider). */
#include <linux/atomic.h>
#include <linux/module.h>

static atomic_t ticks = ATOMIC_INIT(0);

int tick_next(void)
{
	return atomic_inc_return(&ticks);
}
EXPORT_SYMBOL_GPL(tick_next);

static int __init tick_init(void)
{
	pr_info("tick: ready\n");
	return 0;
}

static void __exit tick_exit(void)
{
	pr_info("tick: gone after %d ticks\n", atomic_read(&ticks));
}

module_init(tick_init);
module_exit(tick_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab lesson 3: the provider of a module pair");
