// SPDX-License-Identifier: GPL-2.0
/*
 * Correct: the driver first, then a device allocated and added in two steps
 * (platform_device_alloc, platform_device_add: the probe runs inside the add).
 * A failed add is undone with platform_device_put; exit unregisters both.
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct paa_state {
	char *buf;
	int opened;
};

static struct platform_device *pdev;

static int paa_probe(struct platform_device *p)
{
	struct paa_state *st;

	st = devm_kzalloc(&p->dev, sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	st->buf = kmalloc(64, GFP_KERNEL);
	if (!st->buf)
		return -ENOMEM;
	platform_set_drvdata(p, st);
	return 0;
}

static int paa_remove(struct platform_device *p)
{
	struct paa_state *st = platform_get_drvdata(p);

	kfree(st->buf);
	return 0;
}

static struct platform_driver drv = {
	.probe = paa_probe,
	.remove = paa_remove,
	.driver = { .name = "plat_alloc_add" },
};

static int __init paa_init(void)
{
	int ret;

	ret = platform_driver_register(&drv);
	if (ret)
		return ret;
	pdev = platform_device_alloc("plat_alloc_add", PLATFORM_DEVID_NONE);
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

static void __exit paa_exit(void)
{
	platform_device_unregister(pdev);
	platform_driver_unregister(&drv);
}

module_init(paa_init);
module_exit(paa_exit);
MODULE_LICENSE("GPL");
