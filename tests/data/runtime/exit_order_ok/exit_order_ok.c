// SPDX-License-Identifier: GPL-2.0
/* Correct: exit frees the greeting before the struct that points to it. */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

struct greeter {
	char *msg;
	unsigned long count;
};

static struct greeter *g;

static int __init exit_order_ok_init(void)
{
	g = kzalloc(sizeof(*g), GFP_KERNEL);
	if (!g)
		return -ENOMEM;
	g->msg = kstrdup("hello", GFP_KERNEL);
	if (!g->msg) {
		kfree(g);
		return -ENOMEM;
	}
	pr_info("exit_order_ok: %s\n", g->msg);
	return 0;
}

static void __exit exit_order_ok_exit(void)
{
	kfree(g->msg);
	kfree(g);
	pr_info("exit_order_ok: goodbye\n");
}

module_init(exit_order_ok_init);
module_exit(exit_order_ok_exit);
MODULE_LICENSE("GPL");
