// SPDX-License-Identifier: GPL-2.0
/* Two modules: the provider allocates for its consumer, during the consumer's init. */
#include <linux/module.h>
#include <linux/slab.h>

void *prov_make(size_t n)
{
	return kzalloc(n, GFP_KERNEL);
}
EXPORT_SYMBOL(prov_make);

void prov_drop(void *p)
{
	kfree(p);
}
EXPORT_SYMBOL(prov_drop);

static int __init prov_init(void)
{
	return 0;
}

static void __exit prov_exit(void)
{
}

module_init(prov_init);
module_exit(prov_exit);
MODULE_LICENSE("GPL");
