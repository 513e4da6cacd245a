#include <linux/module.h>
#include <linux/init.h>

static int __init syntax_init(void)
{
	pr_info("hello\n")
	return 0;
}

static void __exit syntax_exit(void)
{
	pr_info("bye\n");
}

module_init(syntax_init);
module_exit(syntax_exit);
MODULE_LICENSE("GPL");
