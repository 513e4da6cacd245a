// SPDX-License-Identifier: GPL-2.0
/* A platform device (numbered by the kernel) and a driver that binds to it. */
#include <linux/module.h>
#include <linux/platform_device.h>

static struct platform_device *pdev;

static int plat_leak_probe(struct platform_device *p)
{
	return 0;
}

static struct platform_driver drv = {
	.probe = plat_leak_probe,
	.driver = { .name = "plat_leak" },
};

static int __init plat_leak_init(void)
{
	int ret;

	pdev = platform_device_register_simple("plat_leak", PLATFORM_DEVID_AUTO, NULL, 0);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	ret = platform_driver_register(&drv);
	if (ret) {
		platform_device_unregister(pdev);
		return ret;
	}
	return 0;
}

static void __exit plat_leak_exit(void)
{
	platform_driver_unregister(&drv);
	/* platform_device_unregister(pdev) forgotten: the device stays on the bus */
}

module_init(plat_leak_init);
module_exit(plat_leak_exit);
MODULE_LICENSE("GPL");
