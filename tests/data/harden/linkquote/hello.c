// An attack: claim the lines below come from sub/Makefile, a symbolic link to
// a file of the grading machine, so that the report quotes that file's lines.
#include <linux/module.h>

static int __init hello_init(void)
{
	return 0;
}

static void __exit hello_exit(void)
{
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");

#line 1 "sub/Makefile"
#warning line 1
#warning line 2
#warning line 3
