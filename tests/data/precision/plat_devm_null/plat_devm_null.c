// SPDX-License-Identifier: GPL-2.0
/*
 * Bug: the probe never checks devm_kzalloc and writes through its result
 * (a NULL pointer when the allocation fails).
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct pdn_state {
	char *buf;
	int opened;
};

static struct platform_device *pdev;

static int pdn_probe(struct platform_device *p)
{
	struct pdn_state *st;

	st = devm_kzalloc(&p->dev, sizeof(*st), GFP_KERNEL);
	st->buf = kmalloc(64, GFP_KERNEL);
	if (!st->buf)
		return -ENOMEM;
	platform_set_drvdata(p, st);
	return 0;
}

static int pdn_remove(struct platform_device *p)
{
	struct pdn_state *st = platform_get_drvdata(p);

	kfree(st->buf);
	return 0;
}

static struct platform_driver drv = {
	.probe = pdn_probe,
	.remove = pdn_remove,
	.driver = { .name = "plat_devm_null" },
};

static int __init pdn_init(void)
{
	int ret;

	ret = platform_driver_register(&drv);
	if (ret)
		return ret;
	pdev = platform_device_register_simple("plat_devm_null", PLATFORM_DEVID_AUTO, NULL, 0);
	if (IS_ERR(pdev)) {
		platform_driver_unregister(&drv);
		return PTR_ERR(pdev);
	}
	return 0;
}

static void __exit pdn_exit(void)
{
	platform_device_unregister(pdev);
	platform_driver_unregister(&drv);
}

module_init(pdn_init);
module_exit(pdn_exit);
MODULE_LICENSE("GPL");
