// SPDX-License-Identifier: GPL-2.0
/*
 * Correct: the device is registered first, so the driver's probe runs inside
 * platform_driver_register. The probe allocates its state with devm_kzalloc
 * (freed by the driver core) and a buffer with kmalloc that remove frees; a
 * failed probe returns an error and init still returns 0.
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct pdf_state {
	char *buf;
	int opened;
};

static struct platform_device *pdev;

static int pdf_probe(struct platform_device *p)
{
	struct pdf_state *st;

	st = devm_kzalloc(&p->dev, sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	st->buf = kmalloc(64, GFP_KERNEL);
	if (!st->buf)
		return -ENOMEM;
	platform_set_drvdata(p, st);
	return 0;
}

static int pdf_remove(struct platform_device *p)
{
	struct pdf_state *st = platform_get_drvdata(p);

	kfree(st->buf);
	return 0;
}

static struct platform_driver drv = {
	.probe = pdf_probe,
	.remove = pdf_remove,
	.driver = { .name = "plat_drv_first" },
};

static int __init pdf_init(void)
{
	int ret;

	pdev = platform_device_register_simple("plat_drv_first", PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	ret = platform_driver_register(&drv);
	if (ret) {
		platform_device_unregister(pdev);
		return ret;
	}
	return 0;
}

static void __exit pdf_exit(void)
{
	platform_driver_unregister(&drv);
	platform_device_unregister(pdev);
}

module_init(pdf_init);
module_exit(pdf_exit);
MODULE_LICENSE("GPL");
