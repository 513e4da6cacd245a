// SPDX-License-Identifier: GPL-2.0
/* Bug: exit frees in init's order: the struct first, then reads g->msg from it. */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

struct greeter {
	char *msg;
	unsigned long count;
};

static struct greeter *g;

static int __init uaf_exit_order_init(void)
{
	g = kzalloc(sizeof(*g), GFP_KERNEL);
	if (!g)
		return -ENOMEM;
	g->msg = kstrdup("hello", GFP_KERNEL);
	if (!g->msg) {
		kfree(g);
		return -ENOMEM;
	}
	pr_info("uaf_exit_order: %s\n", g->msg);
	return 0;
}

static void __exit uaf_exit_order_exit(void)
{
	kfree(g);
	kfree(g->msg);
	pr_info("uaf_exit_order: goodbye\n");
}

module_init(uaf_exit_order_init);
module_exit(uaf_exit_order_exit);
MODULE_LICENSE("GPL");
