#include <linux/module.h>
#include <linux/init.h>

static int __init unusedvar_init(void)
{
	int unused;

	pr_info("hello\n");
	return 0;
}

static void __exit unusedvar_exit(void)
{
}

module_init(unusedvar_init);
module_exit(unusedvar_exit);
MODULE_LICENSE("GPL");
