// SPDX-License-Identifier: GPL-2.0
/* The consumer: its init makes one fallible call of its own, after the provider's. */
#include <linux/module.h>
#include <linux/slab.h>

void *prov_make(size_t n);
void prov_drop(void *p);

static void *from_prov, *own;

static int __init cons_init(void)
{
	from_prov = prov_make(32);
	if (!from_prov)
		return -ENOMEM;
	own = kzalloc(16, GFP_KERNEL);
	if (!own) {
		prov_drop(from_prov);
		return -ENOMEM;
	}
	return 0;
}

static void __exit cons_exit(void)
{
	kfree(own);
	prov_drop(from_prov);
}

module_init(cons_init);
module_exit(cons_exit);
MODULE_LICENSE("GPL");
