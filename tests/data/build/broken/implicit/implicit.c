#include <linux/module.h>
#include <linux/init.h>

static int __init implicit_init(void)
{
	int n = my_helper(3);

	pr_info("n=%d\n", n);
	return 0;
}

static void __exit implicit_exit(void)
{
}

module_init(implicit_init);
module_exit(implicit_exit);
MODULE_LICENSE("GPL");
