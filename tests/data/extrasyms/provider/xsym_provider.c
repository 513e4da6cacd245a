// SPDX-License-Identifier: GPL-2.0
/* A provider: exports one function for a module built in another folder. */
#include <linux/export.h>
#include <linux/init.h>
#include <linux/module.h>

int xsym_add(int a, int b)
{
	return a + b;
}
EXPORT_SYMBOL_GPL(xsym_add);

static int __init xsym_provider_init(void)
{
	pr_info("xsym_provider: exporting xsym_add\n");
	return 0;
}

static void __exit xsym_provider_exit(void)
{
}

module_init(xsym_provider_init);
module_exit(xsym_provider_exit);
MODULE_LICENSE("GPL");
