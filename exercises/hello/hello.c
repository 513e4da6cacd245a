// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 2, hello: the life of a module. init runs when the module is loaded
 * (insmod), exit when it is removed (rmmod).
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

/*
 * __init puts this function in a section the kernel frees once the module
 * has loaded: it runs exactly once.
 */
static int __init hello_init(void)
{
	/* TODO: log "Hello, world!" with pr_info(). */
	return 0;
}

/* __exit code is left out entirely when the module is built into the kernel. */
static void __exit hello_exit(void)
{
	/* TODO: log "Goodbye, world!" with pr_info(). */
}

module_init(hello_init);
module_exit(hello_exit);

/* Without a license, the kernel refuses to build the module: keep this line. */
MODULE_LICENSE("GPL");
/* TODO: MODULE_AUTHOR("Your Name <you@example.org>") */
/* TODO: MODULE_DESCRIPTION("...") saying in one line what the module does */
