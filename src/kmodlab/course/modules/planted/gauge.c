// SPDX-License-Identifier: GPL-2.0
/* gauge.ko: needs a symbol of another module (lesson 4's planted failure). */
#include <linux/module.h>

int calib_offset(void);

static int __init gauge_init(void)
{
	pr_info("gauge: reading 20 %+d\n", calib_offset());
	return 0;
}

static void __exit gauge_exit(void)
{
}

module_init(gauge_init);
module_exit(gauge_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab lesson 4: a module that cannot load on its own");
