// SPDX-License-Identifier: GPL-2.0
/* Leaks /proc/leak_proc: created in init, never removed in exit. */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int leak_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "hello\n");
	return 0;
}

static int __init leak_proc_init(void)
{
	if (!proc_create_single("leak_proc", 0444, NULL, leak_proc_show))
		return -ENOMEM;
	return 0;
}

static void __exit leak_proc_exit(void)
{
	/* LEAK: remove_proc_entry("leak_proc", NULL) is missing */
}

module_init(leak_proc_init);
module_exit(leak_proc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: leaks a /proc entry");
