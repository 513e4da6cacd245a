// SPDX-License-Identifier: GPL-2.0
/*
 * irq_optional with a bug on the path it takes without its line: the
 * polling buffer it allocates then is never freed. The line fails by itself
 * in the guest, so the normal load takes that path: carrying on is allowed,
 * what it leaves after rmmod is not.
 */
#include <linux/init.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/slab.h>

static int irq = 1000; /* no such line in the guest */
module_param(irq, int, 0444);

static char *buffer;
static char *polling;
static int cookie;

static irqreturn_t leaky_irq(int line, void *dev_id)
{
	return IRQ_NONE;
}

static int __init leaky_init(void)
{
	buffer = kzalloc(64, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM;
	if (request_irq(irq, leaky_irq, IRQF_SHARED, "irq_optional_leak", &cookie)) {
		pr_info("irq_optional_leak: can't get line %d, polling instead\n", irq);
		irq = -1;
		polling = kmalloc(128, GFP_KERNEL); /* never freed */
	}
	return 0;
}

static void __exit leaky_exit(void)
{
	if (irq >= 0)
		free_irq(irq, &cookie);
	kfree(buffer);
}

module_init(leaky_init);
module_exit(leaky_exit);
MODULE_LICENSE("GPL");
