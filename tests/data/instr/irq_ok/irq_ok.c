// SPDX-License-Identifier: GPL-2.0
/*
 * Correct: a handler on the shared virtio-mmio line, removed in exit.
 * IRQ_LINE comes from irqline.h, written by the test from the guest's
 * /proc/interrupts (the virtio-mmio line, which virtio shares: IRQF_SHARED).
 * The handler is the kernel's no_action and the name is allocated, so nothing
 * the line keeps points into the module once it is gone.
 */
#include <linux/module.h>
#include <linux/interrupt.h>
#include <linux/slab.h>
#include "irqline.h"

static int cookie;
static char *name;

static int __init irq_ok_init(void)
{
	int ret;

	name = kstrdup("irq_ok", GFP_KERNEL);
	if (!name)
		return -ENOMEM;
	ret = request_irq(IRQ_LINE, no_action, IRQF_SHARED, name, &cookie);
	if (ret) {
		kfree(name);
		return ret;
	}
	return 0;
}

static void __exit irq_ok_exit(void)
{
	free_irq(IRQ_LINE, &cookie);
	kfree(name);
}

module_init(irq_ok_init);
module_exit(irq_ok_exit);
MODULE_LICENSE("GPL");
