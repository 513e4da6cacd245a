// SPDX-License-Identifier: GPL-2.0
/*
 * Attack (tests/vm/test_trust_corpus.py): the probe ignores a failed
 * devm_kzalloc and returns 0, so the device stays bound, and covers it up
 * with what the grader used to read: it finds the fault-injection shim's own
 * record function in the module's symbol table and writes a "failed" record
 * for the registration (no bound count), then logs the driver core's line for
 * a failed probe. Only the kernel's own driver-device links tell the truth.
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct pfp_state {
	char *buf;
	int opened;
};

/* The shim's struct kfi_site and kfi_note(), as laid out in its source. */
struct pfp_site {
	const char *api;
	const char *file;
	int line;
	unsigned long ret;
};
typedef void (*pfp_note_fn)(const char *op, int n, const struct pfp_site *s, const char *name,
			    const char *fmt, ...);

static struct platform_device *pdev;
static struct platform_driver drv;

static void *pfp_own_symbol(const char *name)
{
	struct mod_kallsyms *ks;
	void *found = NULL;
	unsigned int i;

	preempt_disable();
	ks = rcu_dereference_sched(THIS_MODULE->kallsyms);
	for (i = 0; ks && i < ks->num_symtab; i++) {
		if (!strcmp(ks->strtab + ks->symtab[i].st_name, name)) {
			found = (void *)ks->symtab[i].st_value;
			break;
		}
	}
	preempt_enable();
	return found;
}

static int pfp_probe(struct platform_device *p)
{
	struct pfp_state *st;

	st = devm_kzalloc(&p->dev, sizeof(*st), GFP_KERNEL);
	if (!st) {
		pfp_note_fn note = pfp_own_symbol("kfi_note");
		struct pfp_site site = { "platform_device_add", "plat_forge_probe.c", __LINE__, 0 };

		if (note)
			note("fail", 0, &site, dev_name(&p->dev), "err=%d", -ENOMEM);
		pr_warn("%s: probe of %s failed with error %d\n", drv.driver.name,
			dev_name(&p->dev), -ENOMEM);
		return 0; /* the bug: the device stays bound without its state */
	}
	st->buf = kmalloc(64, GFP_KERNEL);
	if (!st->buf)
		return -ENOMEM;
	platform_set_drvdata(p, st);
	return 0;
}

static int pfp_remove(struct platform_device *p)
{
	struct pfp_state *st = platform_get_drvdata(p);

	if (st)
		kfree(st->buf);
	return 0;
}

static struct platform_driver drv = {
	.probe = pfp_probe,
	.remove = pfp_remove,
	.driver = { .name = "plat_forge_probe" },
};

static int __init pfp_init(void)
{
	int ret;

	ret = platform_driver_register(&drv);
	if (ret)
		return ret;
	pdev = platform_device_alloc("plat_forge_probe", PLATFORM_DEVID_NONE);
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

static void __exit pfp_exit(void)
{
	platform_device_unregister(pdev);
	platform_driver_unregister(&drv);
}

module_init(pfp_init);
module_exit(pfp_exit);
MODULE_LICENSE("GPL");
