// SPDX-License-Identifier: GPL-2.0
/*
 * Bug: the probe ignores a failed devm_kzalloc and returns 0, so the driver
 * core takes the device as working (remove copes with the missing state).
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct pdi_state {
	char *buf;
	int opened;
};

static struct platform_device *pdev;

static int pdi_probe(struct platform_device *p)
{
	struct pdi_state *st;

	st = devm_kzalloc(&p->dev, sizeof(*st), GFP_KERNEL);
	if (!st)
		return 0; /* should be -ENOMEM */
	st->buf = kmalloc(64, GFP_KERNEL);
	if (!st->buf)
		return -ENOMEM;
	platform_set_drvdata(p, st);
	return 0;
}

static int pdi_remove(struct platform_device *p)
{
	struct pdi_state *st = platform_get_drvdata(p);

	if (st)
		kfree(st->buf);
	return 0;
}

static struct platform_driver drv = {
	.probe = pdi_probe,
	.remove = pdi_remove,
	.driver = { .name = "plat_devm_ignore" },
};

static int __init pdi_init(void)
{
	int ret;

	ret = platform_driver_register(&drv);
	if (ret)
		return ret;
	pdev = platform_device_register_simple("plat_devm_ignore", PLATFORM_DEVID_AUTO, NULL, 0);
	if (IS_ERR(pdev)) {
		platform_driver_unregister(&drv);
		return PTR_ERR(pdev);
	}
	return 0;
}

static void __exit pdi_exit(void)
{
	platform_device_unregister(pdev);
	platform_driver_unregister(&drv);
}

module_init(pdi_init);
module_exit(pdi_exit);
MODULE_LICENSE("GPL");
