#include <linux/module.h>
#include <linux/init.h>
#include "util.h"

static int __init counter_init(void)
{
	int i;
	int unused_total;

	for (i = 0; i < 3; i++)
		pr_info("counter: %d\n", counter_next());
	return 0;
}

static void __exit counter_exit(void)
{
	counter_reset(0);
}

module_init(counter_init);
module_exit(counter_exit);
MODULE_LICENSE("GPL");
