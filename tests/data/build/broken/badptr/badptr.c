#include <linux/module.h>
#include <linux/init.h>
#include <linux/string.h>

static int __init badptr_init(void)
{
	int numbers[4];
	char name[16];

	strscpy(name, numbers, sizeof(name));
	pr_info("%s\n", name);
	return 0;
}

static void __exit badptr_exit(void)
{
}

module_init(badptr_init);
module_exit(badptr_exit);
MODULE_LICENSE("GPL");
