// SPDX-License-Identifier: GPL-2.0
/*
 * Bug: exit unregisters the driver but forgets the device it allocated and
 * added (platform_device_alloc, platform_device_add): it stays on the bus.
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct paal_state {
	char *buf;
	int opened;
};

static struct platform_device *pdev;

static int paal_probe(struct platform_device *p)
{
	struct paal_state *st;

	st = devm_kzalloc(&p->dev, sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	st->buf = kmalloc(64, GFP_KERNEL);
	if (!st->buf)
		return -ENOMEM;
	platform_set_drvdata(p, st);
	return 0;
}

static int paal_remove(struct platform_device *p)
{
	struct paal_state *st = platform_get_drvdata(p);

	kfree(st->buf);
	return 0;
}

static struct platform_driver drv = {
	.probe = paal_probe,
	.remove = paal_remove,
	.driver = { .name = "plat_alloc_add_leak" },
};

static int __init paal_init(void)
{
	int ret;

	ret = platform_driver_register(&drv);
	if (ret)
		return ret;
	pdev = platform_device_alloc("plat_alloc_add_leak", PLATFORM_DEVID_NONE);
	if (!pdev) {
		ret = -ENOMEM;
		goto unregister_driver;
	}
	ret = platform_device_add(pdev);
	if (ret)
		goto put_device;
	return 0;
put_device:
	platform_device_put(pdev);
unregister_driver:
	platform_driver_unregister(&drv);
	return ret;
}

static void __exit paal_exit(void)
{
	platform_driver_unregister(&drv);
}

module_init(paal_init);
module_exit(paal_exit);
MODULE_LICENSE("GPL");
