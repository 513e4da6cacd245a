// SPDX-License-Identifier: GPL-2.0
/* Wrong answer (rules): the allocation is used without checking it. */
#include <linux/ctype.h>
#include <linux/init.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/string.h>

#define RULES_BUF_SIZE 256

static char *buf;
static char *loud;
static char farewell[] = "goodbye";

/* The guest's virtio-mmio line (49 in kmodlab's guest: see /proc/interrupts). */
static int irq = 49;
module_param(irq, int, 0444);
MODULE_PARM_DESC(irq, "a shared interrupt line to listen on");
static int cookie; /* our dev_id: tells our handler apart on the shared line */
static atomic_t seen = ATOMIC_INIT(0);

static irqreturn_t rules_irq(int line, void *dev_id)
{
	atomic_inc(&seen);
	return IRQ_NONE; /* not our device's interrupt: the line's owner handles it */
}

/*
 * In user space, shout() was:
 *
 *	char *shout(const char *s)
 *	{
 *		char *copy = strdup(s);
 *
 *		if (!copy)
 *			return NULL;
 *		for (char *p = copy; *p; p++)
 *			*p = toupper(*p);
 *		printf("rules: shouting \"%s\"\n", copy);
 *		return copy;
 *	}
 */
static char *shout(const char *s)
{
	char *copy = kstrdup(s, GFP_KERNEL);
	char *p;

	if (!copy)
		return NULL;
	for (p = copy; *p; p++)
		*p = toupper(*p);
	pr_info("rules: shouting \"%s\"\n", copy);
	return copy;
}

static int __init rules_init(void)
{
	int len;
	int err;

	buf = kzalloc(RULES_BUF_SIZE, GFP_KERNEL);

	len = scnprintf(buf, RULES_BUF_SIZE, "checked, used, freed");
	pr_info("rules: the buffer holds \"%s\" (%d bytes)\n", buf, len);

	loud = shout(buf);
	if (!loud) {
		err = -ENOMEM;
		goto free_buf;
	}

	err = request_irq(irq, rules_irq, IRQF_SHARED, "rules", &cookie);
	if (err) {
		pr_err("rules: cannot share interrupt line %d: %d\n", irq, err);
		goto free_loud;
	}
	return 0;

free_loud:
	kfree(loud);
free_buf:
	kfree(buf);
	return err;
}

static void __exit rules_exit(void)
{
	free_irq(irq, &cookie);
	pr_info("rules: line %d raised %d interrupts while loaded\n", irq, atomic_read(&seen));
	printk(KERN_INFO "rules: freeing \"%s\"\n", buf);
	kfree(loud);
	kfree(buf);
	pr_info("rules: %s\n", farewell);
}

module_init(rules_init);
module_exit(rules_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Allocates, ports a libc routine, shares an interrupt line, frees");
