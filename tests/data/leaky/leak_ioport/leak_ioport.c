// SPDX-License-Identifier: GPL-2.0
/*
 * Leaks an I/O port range: request_region without release_region. The
 * resource's name points into the module, so after rmmod reading
 * /proc/ioports oopses: the state snapshot must survive that and report it.
 */
#include <linux/ioport.h>
#include <linux/module.h>

#define LEAK_IOPORT_BASE 0x300 /* unused on QEMU's PC machines */

static int __init leak_ioport_init(void)
{
	if (!request_region(LEAK_IOPORT_BASE, 8, "leak_ioport"))
		return -EBUSY;
	return 0;
}

static void __exit leak_ioport_exit(void)
{
	/* LEAK: release_region(LEAK_IOPORT_BASE, 8) is missing */
}

module_init(leak_ioport_init);
module_exit(leak_ioport_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: leaks an I/O port range");
