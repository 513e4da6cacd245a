// SPDX-License-Identifier: GPL-2.0
/* keeper: a module of two objects that keeps one buffer while loaded. */
#include <linux/module.h>
#include "keeper_buf.h"

static int __init keeper_init(void)
{
	return keeper_buf_get();
}

static void __exit keeper_exit(void)
{
	keeper_buf_put();
}

module_init(keeper_init);
module_exit(keeper_exit);
MODULE_LICENSE("GPL");
