// SPDX-License-Identifier: GPL-2.0
/* A typical wrong capstone: it builds, loads and logs, but creates neither file. */
#include <linux/atomic.h>
#include <linux/init.h>
#include <linux/module.h>

static atomic_t reads = ATOMIC_INIT(0);

static int __init capstone_init(void)
{
	pr_info("capstone: ready\n");
	return 0;
}

static void __exit capstone_exit(void)
{
	pr_info("capstone: goodbye after %d reads\n", atomic_read(&reads));
}

module_init(capstone_init);
module_exit(capstone_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("A. Student");
MODULE_DESCRIPTION("A /proc read counter and a greeting misc device (not yet)");
