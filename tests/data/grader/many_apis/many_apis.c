// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: one call of every API the instrumented build wraps, each result
 * checked, and one cleanup that releases whatever was acquired (used by the
 * error path and by exit). No injection point leaks.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/string.h>
#include <linux/fs.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/miscdevice.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/debugfs.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/workqueue.h>

struct many_item {
	int id;
	char tag[12];
};

static const struct file_operations many_fops = {
	.owner = THIS_MODULE,
};

static struct miscdevice many_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "many_apis",
	.fops = &many_fops,
};

static struct {
	char *kmalloc_buf;
	u32 *kcalloc_buf;
	u64 *array_buf;
	char *realloc_buf;
	char *strdup_buf;
	void *memdup_buf;
	char *asprintf_buf;
	void *vmalloc_buf;
	void *vzalloc_buf;
	void *kvmalloc_buf;
	void *kvcalloc_buf;
	char *strndup_buf;
	char *memdup_nul_buf;
	void *node_buf;
	void *znode_buf;
	unsigned long pages_addr;
	unsigned long zeroed_page;
	struct page *page;
	struct kmem_cache *cache;
	struct many_item *item;
	struct many_item *zitem;
	int major;
	dev_t region;
	bool region_done;
	dev_t fixed;
	bool fixed_done;
	struct cdev cdev;
	bool cdev_done;
	struct class *cls;
	struct device *dev;
	bool misc_done;
	struct proc_dir_entry *pdir;
	struct dentry *ddir;
	struct task_struct *runner;
	struct task_struct *sleeper;
	struct workqueue_struct *wq;
} m;

static int many_show(struct seq_file *s, void *v)
{
	seq_puts(s, "many\n");
	return 0;
}

static void *many_start(struct seq_file *s, loff_t *pos)
{
	return *pos ? NULL : SEQ_START_TOKEN;
}

static void *many_next(struct seq_file *s, void *v, loff_t *pos)
{
	++*pos;
	return NULL;
}

static void many_stop(struct seq_file *s, void *v)
{
}

static const struct seq_operations many_seq_ops = {
	.start = many_start,
	.next = many_next,
	.stop = many_stop,
	.show = many_show,
};

static const struct proc_ops many_proc_ops = {
	.proc_read = seq_read,
};

static int many_thread(void *data)
{
	while (!kthread_should_stop())
		msleep_interruptible(20);
	return 0;
}

static void many_cleanup(void)
{
	if (m.wq)
		destroy_workqueue(m.wq);
	if (m.sleeper)
		kthread_stop(m.sleeper);
	if (m.runner)
		kthread_stop(m.runner);
	debugfs_remove_recursive(m.ddir); /* removes the file in it too */
	if (m.pdir)
		proc_remove(m.pdir); /* removes the entries in it too */
	if (m.misc_done)
		misc_deregister(&many_misc);
	if (m.dev)
		device_destroy(m.cls, m.region);
	if (m.cls)
		class_destroy(m.cls);
	if (m.cdev_done)
		cdev_del(&m.cdev);
	if (m.fixed_done)
		unregister_chrdev_region(m.fixed, 1);
	if (m.region_done)
		unregister_chrdev_region(m.region, 2);
	if (m.major > 0)
		unregister_chrdev(m.major, "many_apis_old");
	if (m.zitem)
		kmem_cache_free(m.cache, m.zitem);
	if (m.item)
		kmem_cache_free(m.cache, m.item);
	kmem_cache_destroy(m.cache);
	if (m.page)
		__free_page(m.page);
	free_page(m.zeroed_page); /* 0 is ignored */
	free_pages(m.pages_addr, 1);
	kfree(m.znode_buf);
	kfree(m.node_buf);
	kfree(m.memdup_nul_buf);
	kfree(m.strndup_buf);
	kvfree(m.kvcalloc_buf);
	kvfree(m.kvmalloc_buf);
	vfree(m.vzalloc_buf);
	vfree(m.vmalloc_buf);
	kfree_sensitive(m.asprintf_buf);
	kfree(m.memdup_buf);
	kfree(m.strdup_buf);
	kfree(m.realloc_buf);
	kfree(m.array_buf);
	kfree(m.kcalloc_buf);
	kfree(m.kmalloc_buf);
	memset(&m, 0, sizeof(m));
}

static int many_memory(void)
{
	char *bigger;

	m.kmalloc_buf = kmalloc(32, GFP_KERNEL);
	m.kcalloc_buf = kcalloc(4, sizeof(u32), GFP_KERNEL);
	m.array_buf = kmalloc_array(4, sizeof(u64), GFP_KERNEL);
	if (!m.kmalloc_buf || !m.kcalloc_buf || !m.array_buf)
		return -ENOMEM;
	m.realloc_buf = kmalloc(8, GFP_KERNEL);
	if (!m.realloc_buf)
		return -ENOMEM;
	bigger = krealloc(m.realloc_buf, 64, GFP_KERNEL);
	if (!bigger)
		return -ENOMEM;
	m.realloc_buf = bigger;
	m.strdup_buf = kstrdup("many", GFP_KERNEL);
	m.memdup_buf = kmemdup("0123456789", 10, GFP_KERNEL);
	m.asprintf_buf = kasprintf(GFP_KERNEL, "many-%d", 42);
	m.vmalloc_buf = vmalloc(8192);
	m.vzalloc_buf = vzalloc(8192);
	m.kvmalloc_buf = kvmalloc(4096, GFP_KERNEL);
	m.kvcalloc_buf = kvcalloc(16, sizeof(u64), GFP_KERNEL);
	if (!m.strdup_buf || !m.memdup_buf || !m.asprintf_buf || !m.vmalloc_buf ||
	    !m.vzalloc_buf || !m.kvmalloc_buf || !m.kvcalloc_buf)
		return -ENOMEM;
	m.strndup_buf = kstrndup("many apis", 4, GFP_KERNEL);
	m.memdup_nul_buf = kmemdup_nul("abc", 3, GFP_KERNEL);
	m.node_buf = kmalloc_node(64, GFP_KERNEL, NUMA_NO_NODE);
	m.znode_buf = kzalloc_node(64, GFP_KERNEL, NUMA_NO_NODE);
	if (!m.strndup_buf || !m.memdup_nul_buf || !m.node_buf || !m.znode_buf)
		return -ENOMEM;
	m.pages_addr = __get_free_pages(GFP_KERNEL, 1);
	m.zeroed_page = get_zeroed_page(GFP_KERNEL);
	m.page = alloc_page(GFP_KERNEL);
	if (!m.pages_addr || !m.zeroed_page || !m.page)
		return -ENOMEM;
	m.cache = kmem_cache_create("many_apis_item", sizeof(struct many_item), 0, 0, NULL);
	if (!m.cache)
		return -ENOMEM;
	m.item = kmem_cache_alloc(m.cache, GFP_KERNEL);
	m.zitem = kmem_cache_zalloc(m.cache, GFP_KERNEL);
	if (!m.item || !m.zitem)
		return -ENOMEM;
	return 0;
}

static int many_chardev(void)
{
	struct cdev *spare;
	int ret;

	ret = register_chrdev(0, "many_apis_old", &many_fops);
	if (ret < 0)
		return ret;
	m.major = ret;
	ret = alloc_chrdev_region(&m.region, 0, 2, "many_apis");
	if (ret)
		return ret;
	m.region_done = true;
	m.fixed = MKDEV(MAJOR(m.region), 16);
	ret = register_chrdev_region(m.fixed, 1, "many_apis_fixed");
	if (ret)
		return ret;
	m.fixed_done = true;
	spare = cdev_alloc();
	if (!spare)
		return -ENOMEM;
	kobject_put(&spare->kobj);
	cdev_init(&m.cdev, &many_fops);
	ret = cdev_add(&m.cdev, m.region, 2);
	if (ret)
		return ret;
	m.cdev_done = true;
	m.cls = class_create(THIS_MODULE, "many_apis");
	if (IS_ERR(m.cls)) {
		ret = PTR_ERR(m.cls);
		m.cls = NULL;
		return ret;
	}
	m.dev = device_create(m.cls, NULL, m.region, NULL, "many_apis%d", 0);
	if (IS_ERR(m.dev)) {
		ret = PTR_ERR(m.dev);
		m.dev = NULL;
		return ret;
	}
	ret = misc_register(&many_misc);
	if (ret)
		return ret;
	m.misc_done = true;
	return 0;
}

static int many_files(void)
{
	struct dentry *file;

	m.pdir = proc_mkdir("many_apis", NULL);
	if (!m.pdir)
		return -ENOMEM;
	if (!proc_mkdir_mode("mode", 0500, m.pdir))
		return -ENOMEM;
	if (!proc_mkdir_data("data_dir", 0555, m.pdir, &m))
		return -ENOMEM;
	if (!proc_symlink("link", m.pdir, "single"))
		return -ENOMEM;
	if (!proc_create_single("single", 0444, m.pdir, many_show))
		return -ENOMEM;
	if (!proc_create_seq("seq", 0444, m.pdir, &many_seq_ops))
		return -ENOMEM;
	if (!proc_create_data("data", 0444, m.pdir, &many_proc_ops, NULL))
		return -ENOMEM;
	m.ddir = debugfs_create_dir("many_apis", NULL);
	if (IS_ERR(m.ddir))
		return PTR_ERR(m.ddir);
	file = debugfs_create_file("value", 0444, m.ddir, NULL, &many_fops);
	if (IS_ERR(file))
		return PTR_ERR(file);
	return 0;
}

static int many_threads(void)
{
	struct task_struct *t;

	t = kthread_run(many_thread, NULL, "many_run%d", 1);
	if (IS_ERR(t))
		return PTR_ERR(t);
	m.runner = t;
	t = kthread_create(many_thread, NULL, "many_%s", "sleep");
	if (IS_ERR(t))
		return PTR_ERR(t);
	m.sleeper = t;
	m.wq = alloc_workqueue("many_apis_wq", 0, 1);
	if (!m.wq)
		return -ENOMEM;
	return 0;
}

static int __init many_init(void)
{
	int ret;

	ret = many_memory();
	if (!ret)
		ret = many_chardev();
	if (!ret)
		ret = many_files();
	if (!ret)
		ret = many_threads();
	if (ret)
		many_cleanup();
	return ret;
}

static void __exit many_exit(void)
{
	many_cleanup();
}

module_init(many_init);
module_exit(many_exit);
MODULE_LICENSE("GPL");
