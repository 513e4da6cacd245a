// SPDX-License-Identifier: GPL-2.0
/*
 * Correct: a platform device and its driver. The probe allocates its state
 * with devm_kzalloc (the driver core frees it when the probe fails or the
 * device goes) and a buffer with kmalloc that remove frees; a failed probe
 * returns an error, which the driver core handles: init still returns 0.
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct pdo_state {
	char *buf;
	int opened;
};

static struct platform_device *pdev;

static int pdo_probe(struct platform_device *p)
{
	struct pdo_state *st;

	st = devm_kzalloc(&p->dev, sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	st->buf = kmalloc(64, GFP_KERNEL);
	if (!st->buf)
		return -ENOMEM;
	platform_set_drvdata(p, st);
	return 0;
}

static int pdo_remove(struct platform_device *p)
{
	struct pdo_state *st = platform_get_drvdata(p);

	kfree(st->buf);
	return 0;
}

static struct platform_driver drv = {
	.probe = pdo_probe,
	.remove = pdo_remove,
	.driver = { .name = "plat_devm_ok" },
};

static int __init pdo_init(void)
{
	int ret;

	ret = platform_driver_register(&drv);
	if (ret)
		return ret;
	pdev = platform_device_register_simple("plat_devm_ok", PLATFORM_DEVID_AUTO, NULL, 0);
	if (IS_ERR(pdev)) {
		platform_driver_unregister(&drv);
		return PTR_ERR(pdev);
	}
	return 0;
}

static void __exit pdo_exit(void)
{
	platform_device_unregister(pdev);
	platform_driver_unregister(&drv);
}

module_init(pdo_init);
module_exit(pdo_exit);
MODULE_LICENSE("GPL");
