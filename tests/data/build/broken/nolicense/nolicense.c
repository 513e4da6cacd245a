#include <linux/module.h>
#include <linux/init.h>

static int __init nolicense_init(void)
{
	pr_info("hello\n");
	return 0;
}

static void __exit nolicense_exit(void)
{
}

module_init(nolicense_init);
module_exit(nolicense_exit);
