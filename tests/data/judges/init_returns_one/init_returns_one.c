// SPDX-License-Identifier: GPL-2.0
/* Init reports success the user-space way: it returns 1, not 0. */
#include <linux/module.h>
#include <linux/slab.h>

static char *buf;

static int __init one_init(void)
{
	buf = kzalloc(32, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	pr_info("init_returns_one: ready\n");
	return 1;
}

static void __exit one_exit(void)
{
	kfree(buf);
}

module_init(one_init);
module_exit(one_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: init returning 1");
