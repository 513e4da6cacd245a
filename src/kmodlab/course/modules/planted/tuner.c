// SPDX-License-Identifier: GPL-2.0
/* tuner.ko: exports a calibration (lesson 4's planted failure, the provider). */
#include <linux/module.h>

int calib_offset(void)
{
	return -3;
}
EXPORT_SYMBOL(calib_offset);

static int __init tuner_init(void)
{
	return 0;
}

static void __exit tuner_exit(void)
{
}

module_init(tuner_init);
module_exit(tuner_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab lesson 4: a provider with a name unlike its export's");
