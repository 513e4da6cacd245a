#include <linux/module.h>
#include <linux/init.h>

int shared_helper(void)
{
	return 1;
}

static int __init twice_init(void)
{
	return shared_helper() - 1;
}

static void __exit twice_exit(void)
{
}

module_init(twice_init);
module_exit(twice_exit);
MODULE_LICENSE("GPL");
