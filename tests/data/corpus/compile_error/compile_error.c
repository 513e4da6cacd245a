// SPDX-License-Identifier: GPL-2.0
/* Bug: does not compile (a missing semicolon). */
#include <linux/module.h>

static int __init compile_error_init(void)
{
	int answer = 42
	pr_info("answer %d\n", answer);
	return 0;
}

module_init(compile_error_init);
MODULE_LICENSE("GPL");
