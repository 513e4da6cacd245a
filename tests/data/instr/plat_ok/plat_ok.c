// SPDX-License-Identifier: GPL-2.0
/* A platform device (numbered by the kernel) and a driver that binds to it. */
#include <linux/module.h>
#include <linux/platform_device.h>

static struct platform_device *pdev;

static int plat_ok_probe(struct platform_device *p)
{
	return 0;
}

static struct platform_driver drv = {
	.probe = plat_ok_probe,
	.driver = { .name = "plat_ok" },
};

static int __init plat_ok_init(void)
{
	int ret;

	pdev = platform_device_register_simple("plat_ok", PLATFORM_DEVID_AUTO, NULL, 0);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	ret = platform_driver_register(&drv);
	if (ret) {
		platform_device_unregister(pdev);
		return ret;
	}
	return 0;
}

static void __exit plat_ok_exit(void)
{
	platform_driver_unregister(&drv);
	platform_device_unregister(pdev);
}

module_init(plat_ok_init);
module_exit(plat_ok_exit);
MODULE_LICENSE("GPL");
