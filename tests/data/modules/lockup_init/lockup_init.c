// SPDX-License-Identifier: GPL-2.0
/* Hostile fixture: spins with interrupts off, so the single-CPU guest stops answering. */
#include <linux/irqflags.h>
#include <linux/module.h>

static int __init lockup_init_init(void)
{
	local_irq_disable();
	for (;;)
		cpu_relax();
	return 0;
}

module_init(lockup_init_init);
MODULE_LICENSE("GPL");
