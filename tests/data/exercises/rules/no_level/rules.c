// SPDX-License-Identifier: GPL-2.0
/* Wrong answer (rules): the unload message has no level (printk without KERN_*). */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/string.h>

#define RULES_BUF_SIZE 256

static char *buf;

static int __init rules_init(void)
{
	int len;

	buf = kzalloc(RULES_BUF_SIZE, GFP_KERNEL);
	if (!buf) {
		pr_err("rules: no memory for %d bytes\n", RULES_BUF_SIZE);
		return -ENOMEM;
	}

	len = scnprintf(buf, RULES_BUF_SIZE, "checked, used, freed");
	pr_info("rules: the buffer holds \"%s\" (%d bytes)\n", buf, len);
	return 0;
}

static void __exit rules_exit(void)
{
	printk("rules: freeing \"%s\"\n", buf);
	kfree(buf);
}

module_init(rules_init);
module_exit(rules_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodlab course");
MODULE_DESCRIPTION("Allocates a buffer, checks it, uses it and frees it");
