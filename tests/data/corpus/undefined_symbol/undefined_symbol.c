// SPDX-License-Identifier: GPL-2.0
/* Bug: calls a function that nothing exports. */
#include <linux/module.h>

int frobnicate_widget(int level);

static int __init undefined_symbol_init(void)
{
	return frobnicate_widget(3);
}

module_init(undefined_symbol_init);
MODULE_LICENSE("GPL");
