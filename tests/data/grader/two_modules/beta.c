// SPDX-License-Identifier: GPL-2.0
/* Fixture: the other module of the folder, with an ordinary checked allocation. */
#include <linux/module.h>
#include <linux/slab.h>

static char *beta_buf;

static int __init beta_init(void)
{
	beta_buf = kzalloc(16, GFP_KERNEL);
	return beta_buf ? 0 : -ENOMEM;
}

static void __exit beta_exit(void)
{
	kfree(beta_buf);
}

module_init(beta_init);
module_exit(beta_exit);
MODULE_LICENSE("GPL");
