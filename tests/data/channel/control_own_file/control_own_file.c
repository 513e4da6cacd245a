// SPDX-License-Identifier: GPL-2.0
/*
 * Control for the channel attacks: an honest module that opens, writes and
 * closes a file of its own. Opening a file is not reaching for the grader.
 */
#include <linux/fs.h>
#include <linux/module.h>

MODULE_LICENSE("GPL");

static int __init own_init(void)
{
	static const char msg[] = "hello from control_own_file\n";
	struct file *f = filp_open("/tmp/control_own_file.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	loff_t pos = 0;
	ssize_t n;

	if (IS_ERR(f))
		return PTR_ERR(f);
	n = kernel_write(f, msg, sizeof(msg) - 1, &pos);
	filp_close(f, NULL);
	return n < 0 ? (int)n : 0;
}

static void __exit own_exit(void)
{
}

module_init(own_init);
module_exit(own_exit);
