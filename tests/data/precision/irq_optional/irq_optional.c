// SPDX-License-Identifier: GPL-2.0
/*
 * An interrupt line that is optional, as ldd3's short treats its own: when
 * request_irq() fails, init says so and carries on polling; exit frees the
 * line only if it got it. In the guest the line does not exist, so the call
 * fails in the normal load too, by itself: failing it on purpose tests
 * nothing new, and carrying on is what this module was written to do.
 */
#include <linux/init.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/slab.h>

static int irq = 1000; /* no such line in the guest */
module_param(irq, int, 0444);

static char *buffer;
static int cookie;

static irqreturn_t optional_irq(int line, void *dev_id)
{
	return IRQ_NONE;
}

static int __init optional_init(void)
{
	buffer = kzalloc(64, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM;
	if (request_irq(irq, optional_irq, IRQF_SHARED, "irq_optional", &cookie)) {
		pr_info("irq_optional: can't get line %d, polling instead\n", irq);
		irq = -1;
	}
	return 0;
}

static void __exit optional_exit(void)
{
	if (irq >= 0)
		free_irq(irq, &cookie);
	kfree(buffer);
}

module_init(optional_init);
module_exit(optional_exit);
MODULE_LICENSE("GPL");
