#include <linux/module.h>
#include <linux/init.h>

extern int kmodlab_no_such_symbol(int x);

static int __init undefsym_init(void)
{
	return kmodlab_no_such_symbol(1);
}

static void __exit undefsym_exit(void)
{
}

module_init(undefsym_init);
module_exit(undefsym_exit);
MODULE_LICENSE("GPL");
