// SPDX-License-Identifier: GPL-2.0
/* Hostile fixture: an init that never returns (sleeps forever, uninterruptibly). */
#include <linux/delay.h>
#include <linux/module.h>

static int __init hang_init_init(void)
{
	pr_info("hang_init: going to sleep forever\n");
	for (;;)
		msleep(1000);
	return 0;
}

module_init(hang_init_init);
MODULE_LICENSE("GPL");
