// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile: claims its warnings come from a file it does not have, so that
 * a report quoting "the student's line" would quote a file of the grader.
 */
#include <linux/module.h>

MODULE_LICENSE("GPL");

#line 1 "sub/Makefile"
static int __init line_init(void)
{
	return 0;
}

static void __exit line_exit(void)
{
}

module_init(line_init);
module_exit(line_exit);
