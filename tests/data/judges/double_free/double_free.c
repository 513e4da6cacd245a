// SPDX-License-Identifier: GPL-2.0
/* Exit frees the buffer, then its helper frees it again. */
#include <linux/module.h>
#include <linux/slab.h>

static char *buf;

static void release_buf(void)
{
	kfree(buf);
}

static int __init df_init(void)
{
	buf = kzalloc(32, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	return 0;
}

static void __exit df_exit(void)
{
	kfree(buf);
	release_buf();
}

module_init(df_init);
module_exit(df_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: a double kfree in exit");
