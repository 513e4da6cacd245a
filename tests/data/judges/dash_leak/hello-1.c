// SPDX-License-Identifier: GPL-2.0
/* Leaves its /proc entry behind (a dash in its name, too). */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

static char *buf;
static struct proc_dir_entry *ent;

static int hello_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", buf);
	return 0;
}

static int __init hello_init(void)
{
	buf = kzalloc(32, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	strscpy(buf, "hello", 32);
	ent = proc_create_single("hello_1", 0444, NULL, hello_show);
	if (!ent) {
		kfree(buf);
		return -ENOMEM;
	}
	pr_info("hello-1 loaded\n");
	return 0;
}

static void __exit hello_exit(void)
{
	/* BUG: proc_remove(ent) is missing */
	kfree(buf);
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodlab fixture: a dash-named module that leaves its proc entry");
