/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmodlab fault-injection header: force-included (-include) before every
 * file of a student's module in the instrumented build.
 *
 * It first includes the kernel headers that declare the APIs, then defines
 * static inline wrappers, and only then #defines the public names as
 * function-like macros that call the wrappers with __FILE__ and __LINE__.
 * That order is what the kernel forces: kzalloc, kcalloc, register_chrdev,
 * ... are static inlines in the headers, so a wrapper cannot be linked in
 * their place, and a macro defined before the headers would rewrite their
 * declarations.
 *
 * The wrappers are static inline here, not functions in the shim, so that a
 * module references only the kernel symbols it really uses: a shim calling
 * every API would make a non-GPL module reference GPL-only exports
 * (__class_create, device_create, debugfs_*) it never calls.
 *
 * The shim (kmodlab_fi_<token>_<i>.c, one copy linked into each module)
 * owns the call counter, the kmodlab_fail_nth parameter and the log lines
 * with the per-build nonce; this header never sees the nonce.
 *
 * Function-like macros only expand before "(", so taking an API's address
 * (`f = kfree;`), calling it as `(kfree)(p)` or #undef-ing it still builds,
 * untracked. An API that was already a macro in 6.1 (class_create,
 * kthread_create, kthread_run, proc_create_single, proc_create_seq*) is
 * #undef-ed and redefined with the same expansion plus the record.
 */
#ifndef KMODLAB_FI_H
#define KMODLAB_FI_H

#include <linux/module.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/err.h>
#include <linux/gfp.h>
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
#include <linux/sched.h>
#include <linux/uaccess.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/timer.h>
#include <linux/wait.h>
#include <linux/list.h>
#include <linux/random.h>

/* Implemented in the shim. A negative result: fail this call (it was call -n). */
int kmodlab_fi_begin(const char *api, const char *file, int line, bool may_fail);
__printf(7, 8) void kmodlab_fi_note(const char *op, int n, const char *api, const char *file,
				    int line, const char *name, const char *fmt, ...);

#define KMODLAB_FI_AT __FILE__, __LINE__
/* An allocation with __GFP_NOFAIL never fails for real: it is counted, never failed. */
#define KMODLAB_FI_MAY_FAIL(flags) (!((flags) & __GFP_NOFAIL))

static inline const char *kmodlab_fi_ptr_op(const void *p)
{
	if (!p || IS_ERR(p))
		return "fail";
	/* kmalloc(0) gives ZERO_SIZE_PTR: a success with nothing to free. */
	return ZERO_OR_NULL_PTR(p) ? "call" : "acquire";
}

/* ---- memory ------------------------------------------------------------ */

static inline void *kmodlab_fi_kmalloc(size_t size, gfp_t flags, const char *api,
				       const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	void *p;

	if (n < 0)
		return NULL;
	p = kmalloc(size, flags);
	kmodlab_fi_note(kmodlab_fi_ptr_op(p), n, api, file, line, NULL, "h=%px size=%zu", p, size);
	return p;
}

static inline void *kmodlab_fi_kmalloc_array(size_t count, size_t size, gfp_t flags,
					     const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	void *p;

	if (n < 0)
		return NULL;
	p = kmalloc_array(count, size, flags);
	kmodlab_fi_note(kmodlab_fi_ptr_op(p), n, api, file, line, NULL,
			"h=%px size=%zu count=%zu", p, size, count);
	return p;
}

static inline void * __must_check kmodlab_fi_krealloc(const void *old, size_t size, gfp_t flags,
						      const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	void *p;

	if (n < 0)
		return NULL; /* as a real failure: the old block stays valid */
	p = krealloc(old, size, flags);
	kmodlab_fi_note(kmodlab_fi_ptr_op(p), n, api, file, line, NULL,
			"h=%px old=%px size=%zu", p, old, size);
	return p;
}

static inline char *kmodlab_fi_kstrdup(const char *s, gfp_t flags, const char *api,
				       const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	char *p;

	if (n < 0)
		return NULL;
	p = kstrdup(s, flags);
	/* kstrdup(NULL) is NULL without having failed. */
	kmodlab_fi_note(s ? kmodlab_fi_ptr_op(p) : "call", n, api, file, line, NULL, "h=%px", p);
	return p;
}

static inline void *kmodlab_fi_kmemdup(const void *src, size_t len, gfp_t flags,
				       const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	void *p;

	if (n < 0)
		return NULL;
	p = kmemdup(src, len, flags);
	kmodlab_fi_note(kmodlab_fi_ptr_op(p), n, api, file, line, NULL, "h=%px size=%zu", p, len);
	return p;
}

static inline char *kmodlab_fi_kstrndup(const char *s, size_t max, gfp_t flags,
					const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	char *p;

	if (n < 0)
		return NULL;
	p = kstrndup(s, max, flags);
	/* kstrndup(NULL, ...) is NULL without having failed. */
	kmodlab_fi_note(s ? kmodlab_fi_ptr_op(p) : "call", n, api, file, line, NULL, "h=%px", p);
	return p;
}

static inline char *kmodlab_fi_kmemdup_nul(const char *s, size_t len, gfp_t flags,
					   const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	char *p;

	if (n < 0)
		return NULL;
	p = kmemdup_nul(s, len, flags);
	kmodlab_fi_note(s ? kmodlab_fi_ptr_op(p) : "call", n, api, file, line, NULL,
			"h=%px size=%zu", p, len + 1);
	return p;
}

static inline void *kmodlab_fi_kmalloc_node(size_t size, gfp_t flags, int node, const char *api,
					    const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	void *p;

	if (n < 0)
		return NULL;
	p = kmalloc_node(size, flags, node);
	kmodlab_fi_note(kmodlab_fi_ptr_op(p), n, api, file, line, NULL, "h=%px size=%zu", p, size);
	return p;
}

static inline unsigned long kmodlab_fi_get_free_pages(gfp_t flags, unsigned int order,
						     const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	unsigned long a;

	if (n < 0)
		return 0;
	a = __get_free_pages(flags, order);
	kmodlab_fi_note(a ? "acquire" : "fail", n, api, file, line, NULL, "h=%px size=%lu",
			(void *)a, PAGE_SIZE << order);
	return a;
}

static inline struct page *kmodlab_fi_alloc_pages(gfp_t flags, unsigned int order,
						  const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	struct page *p;

	if (n < 0)
		return NULL;
	p = alloc_pages(flags, order);
	kmodlab_fi_note(p ? "acquire" : "fail", n, api, file, line, NULL, "h=%px size=%lu", p,
			PAGE_SIZE << order);
	return p;
}

static inline void kmodlab_fi_free_pages(unsigned long addr, unsigned int order, const char *api,
					 const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", (void *)addr);
	free_pages(addr, order);
}

static inline void kmodlab_fi___free_pages(struct page *p, unsigned int order, const char *api,
					   const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", p);
	__free_pages(p, order);
}

static inline void *kmodlab_fi_vmalloc(unsigned long size, bool zero, const char *api,
				       const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	void *p;

	if (n < 0)
		return NULL;
	p = zero ? vzalloc(size) : vmalloc(size);
	kmodlab_fi_note(kmodlab_fi_ptr_op(p), n, api, file, line, NULL, "h=%px size=%lu", p, size);
	return p;
}

static inline void *kmodlab_fi_kvmalloc_array(size_t count, size_t size, gfp_t flags,
					      const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	void *p;

	if (n < 0)
		return NULL;
	p = kvmalloc_array(count, size, flags);
	kmodlab_fi_note(kmodlab_fi_ptr_op(p), n, api, file, line, NULL,
			"h=%px size=%zu count=%zu", p, size, count);
	return p;
}

static inline struct kmem_cache *kmodlab_fi_kmem_cache_create(const char *name,
		unsigned int size, unsigned int align, slab_flags_t flags, void (*ctor)(void *),
		const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	struct kmem_cache *c;

	if (n < 0)
		return NULL;
	c = kmem_cache_create(name, size, align, flags, ctor);
	kmodlab_fi_note(kmodlab_fi_ptr_op(c), n, api, file, line, name, "h=%px size=%u", c, size);
	return c;
}

static inline void *kmodlab_fi_kmem_cache_alloc(struct kmem_cache *cache, gfp_t flags,
						const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, KMODLAB_FI_MAY_FAIL(flags));
	void *p;

	if (n < 0)
		return NULL;
	p = kmem_cache_alloc(cache, flags);
	kmodlab_fi_note(kmodlab_fi_ptr_op(p), n, api, file, line, NULL, "h=%px cache=%px", p, cache);
	return p;
}

/* kfree, kvfree, vfree, kfree_sensitive: the record comes first, the handle is still valid. */
static inline void kmodlab_fi_free(void (*release)(const void *), const void *p, const char *api,
				   const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", p);
	release(p);
}

static inline void kmodlab_fi_kmem_cache_free(struct kmem_cache *cache, void *p, const char *api,
					      const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px cache=%px", p, cache);
	kmem_cache_free(cache, p);
}

static inline void kmodlab_fi_kmem_cache_destroy(struct kmem_cache *cache, const char *api,
						 const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", cache);
	kmem_cache_destroy(cache);
}

/* ---- character devices ------------------------------------------------- */

static inline int kmodlab_fi_int_done(int n, int ret, unsigned int handle, const char *api,
				      const char *file, int line, const char *name)
{
	if (ret < 0)
		kmodlab_fi_note("fail", n, api, file, line, name, "err=%d", ret);
	else
		kmodlab_fi_note("acquire", n, api, file, line, name, "h=%u", handle);
	return ret;
}

static inline int kmodlab_fi_register_chrdev(unsigned int major, const char *name,
					     const struct file_operations *fops, const char *api,
					     const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = register_chrdev(major, name, fops);
	/* major 0 asks for a free major, which is returned; a given major returns 0. */
	return kmodlab_fi_int_done(n, ret, major ? major : ret, api, file, line, name);
}

static inline void kmodlab_fi_unregister_chrdev(unsigned int major, const char *name,
						const char *api, const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, name, "h=%u", major);
	unregister_chrdev(major, name);
}

static inline int kmodlab_fi_alloc_chrdev_region(dev_t *dev, unsigned int baseminor,
						 unsigned int count, const char *name,
						 const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = alloc_chrdev_region(dev, baseminor, count, name);
	if (ret < 0)
		return kmodlab_fi_int_done(n, ret, 0, api, file, line, name);
	/* The region is released by (first dev_t, count): both are the handle. */
	kmodlab_fi_note("acquire", n, api, file, line, name, "h=%u count=%u dev=%u:%u",
			*dev, count, MAJOR(*dev), MINOR(*dev));
	return ret;
}

static inline int kmodlab_fi_register_chrdev_region(dev_t from, unsigned int count,
						    const char *name, const char *api,
						    const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = register_chrdev_region(from, count, name);
	if (ret < 0)
		return kmodlab_fi_int_done(n, ret, 0, api, file, line, name);
	kmodlab_fi_note("acquire", n, api, file, line, name, "h=%u count=%u dev=%u:%u",
			from, count, MAJOR(from), MINOR(from));
	return ret;
}

static inline void kmodlab_fi_unregister_chrdev_region(dev_t from, unsigned int count,
						       const char *api, const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%u count=%u", from, count);
	unregister_chrdev_region(from, count);
}

static inline struct cdev *kmodlab_fi_cdev_alloc(const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	struct cdev *c;

	if (n < 0)
		return NULL;
	c = cdev_alloc();
	/* Counted (it can fail) but not tracked: cdev_del or kobject_put frees it. */
	kmodlab_fi_note(c ? "call" : "fail", n, api, file, line, NULL, "h=%px", c);
	return c;
}

static inline int kmodlab_fi_cdev_add(struct cdev *cdev, dev_t dev, unsigned int count,
				      const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = cdev_add(cdev, dev, count);
	if (ret < 0)
		kmodlab_fi_note("fail", n, api, file, line, NULL, "err=%d", ret);
	else
		kmodlab_fi_note("acquire", n, api, file, line, NULL, "h=%px dev=%u:%u count=%u",
				cdev, MAJOR(dev), MINOR(dev), count);
	return ret;
}

static inline void kmodlab_fi_cdev_del(struct cdev *cdev, const char *api, const char *file,
				       int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", cdev);
	cdev_del(cdev);
}

/* ---- classes, devices, misc devices ------------------------------------ */

static inline struct class *kmodlab_fi_class_create(struct module *owner, const char *name,
						    struct lock_class_key *key, const char *api,
						    const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	struct class *c;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	c = __class_create(owner, name, key);
	kmodlab_fi_note(kmodlab_fi_ptr_op(c), n, api, file, line, name, "h=%px", c);
	return c;
}

static inline void kmodlab_fi_class_destroy(struct class *cls, const char *api, const char *file,
					    int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", cls);
	class_destroy(cls);
}

static inline struct device *kmodlab_fi_device_done(int n, struct device *d, struct class *cls,
						    dev_t devt, const char *file, int line)
{
	/* The name is formatted by the kernel: read it back from the device. */
	kmodlab_fi_note(kmodlab_fi_ptr_op(d), n, "device_create", file, line,
			IS_ERR_OR_NULL(d) ? NULL : dev_name(d), "h=%px class=%px devt=%u", d, cls,
			devt);
	return d;
}

static inline void kmodlab_fi_device_destroy(struct class *cls, dev_t devt, const char *api,
					     const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "class=%px devt=%u", cls, devt);
	device_destroy(cls, devt);
}

static inline void kmodlab_fi_device_unregister(struct device *dev, const char *api,
						const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", dev);
	device_unregister(dev);
}

static inline int kmodlab_fi_misc_register(struct miscdevice *misc, const char *api,
					   const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = misc_register(misc);
	if (ret < 0)
		kmodlab_fi_note("fail", n, api, file, line, misc->name, "err=%d", ret);
	else
		kmodlab_fi_note("acquire", n, api, file, line, misc->name, "h=%px minor=%d", misc,
				misc->minor);
	return ret;
}

static inline void kmodlab_fi_misc_deregister(struct miscdevice *misc, const char *api,
					      const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", misc);
	misc_deregister(misc);
}

/* ---- /proc ------------------------------------------------------------- */

/* Entries are also released by (name, parent): both are in the record. */
static inline struct proc_dir_entry *kmodlab_fi_pde(int n, struct proc_dir_entry *pde,
						    const char *name,
						    struct proc_dir_entry *parent, const char *api,
						    const char *file, int line)
{
	kmodlab_fi_note(pde ? "acquire" : "fail", n, api, file, line, name, "h=%px parent=%px", pde,
			parent);
	return pde;
}

static inline struct proc_dir_entry *kmodlab_fi_proc_create_data(const char *name, umode_t mode,
		struct proc_dir_entry *parent, const struct proc_ops *ops, void *data,
		const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);

	if (n < 0)
		return NULL;
	return kmodlab_fi_pde(n, proc_create_data(name, mode, parent, ops, data), name, parent,
			      api, file, line);
}

static inline struct proc_dir_entry *kmodlab_fi_proc_create_single_data(const char *name,
		umode_t mode, struct proc_dir_entry *parent, int (*show)(struct seq_file *, void *),
		void *data, const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);

	if (n < 0)
		return NULL;
	return kmodlab_fi_pde(n, proc_create_single_data(name, mode, parent, show, data), name,
			      parent, api, file, line);
}

static inline struct proc_dir_entry *kmodlab_fi_proc_create_seq_private(const char *name,
		umode_t mode, struct proc_dir_entry *parent, const struct seq_operations *ops,
		unsigned int state_size, void *data, const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);

	if (n < 0)
		return NULL;
	return kmodlab_fi_pde(n, proc_create_seq_private(name, mode, parent, ops, state_size, data),
			      name, parent, api, file, line);
}

static inline struct proc_dir_entry *kmodlab_fi_proc_mkdir(const char *name,
							   struct proc_dir_entry *parent,
							   const char *api, const char *file,
							   int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);

	if (n < 0)
		return NULL;
	return kmodlab_fi_pde(n, proc_mkdir(name, parent), name, parent, api, file, line);
}

static inline struct proc_dir_entry *kmodlab_fi_proc_mkdir_data(const char *name, umode_t mode,
		struct proc_dir_entry *parent, void *data, const char *api, const char *file,
		int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);

	if (n < 0)
		return NULL;
	return kmodlab_fi_pde(n, proc_mkdir_data(name, mode, parent, data), name, parent, api, file,
			      line);
}

static inline struct proc_dir_entry *kmodlab_fi_proc_symlink(const char *name,
		struct proc_dir_entry *parent, const char *dest, const char *api, const char *file,
		int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);

	if (n < 0)
		return NULL;
	return kmodlab_fi_pde(n, proc_symlink(name, parent, dest), name, parent, api, file, line);
}

static inline void kmodlab_fi_proc_remove(struct proc_dir_entry *pde, const char *api,
					  const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", pde);
	proc_remove(pde);
}

static inline void kmodlab_fi_remove_proc_entry(const char *name, struct proc_dir_entry *parent,
						const char *api, const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, name, "parent=%px", parent);
	remove_proc_entry(name, parent);
}

static inline int kmodlab_fi_remove_proc_subtree(const char *name, struct proc_dir_entry *parent,
						 const char *api, const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, name, "parent=%px", parent);
	return remove_proc_subtree(name, parent);
}

/* ---- debugfs (its creators return ERR_PTR on failure in 6.1) ------------ */

static inline struct dentry *kmodlab_fi_debugfs_create_file(const char *name, umode_t mode,
		struct dentry *parent, void *data, const struct file_operations *fops,
		const char *api, const char *file, int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	struct dentry *d;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	d = debugfs_create_file(name, mode, parent, data, fops);
	kmodlab_fi_note(kmodlab_fi_ptr_op(d), n, api, file, line, name, "h=%px parent=%px", d,
			parent);
	return d;
}

static inline struct dentry *kmodlab_fi_debugfs_create_dir(const char *name,
							   struct dentry *parent,
							   const char *api, const char *file,
							   int line)
{
	int n = kmodlab_fi_begin(api, file, line, true);
	struct dentry *d;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	d = debugfs_create_dir(name, parent);
	kmodlab_fi_note(kmodlab_fi_ptr_op(d), n, api, file, line, name, "h=%px parent=%px", d,
			parent);
	return d;
}

static inline void kmodlab_fi_debugfs_remove(struct dentry *d, const char *api, const char *file,
					     int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", d);
	debugfs_remove(d);
}

/* ---- kernel threads ---------------------------------------------------- */

static inline struct task_struct *kmodlab_fi_task_done(int n, struct task_struct *t,
						       const char *api, const char *file, int line)
{
	kmodlab_fi_note(kmodlab_fi_ptr_op(t), n, api, file, line, IS_ERR(t) ? NULL : t->comm,
			"h=%px", t);
	return t;
}

static inline int kmodlab_fi_kthread_stop(struct task_struct *t, const char *api,
					  const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", t);
	return kthread_stop(t);
}

static inline void kmodlab_fi_destroy_workqueue(struct workqueue_struct *wq, const char *api,
						const char *file, int line)
{
	kmodlab_fi_note("release", 0, api, file, line, NULL, "h=%px", wq);
	destroy_workqueue(wq);
}

/* ---- the public names -------------------------------------------------- */
/*
 * Macro parameters are single letters so that no parameter name can capture
 * a token of the expansion. Variadic APIs are statement expressions because
 * C cannot forward "..." to a function that has no va_list variant; inside
 * its own expansion a macro's name is not expanded again, so
 * `device_create(...)` there is the real function.
 */
#define kmalloc(a, b) kmodlab_fi_kmalloc((a), (b), "kmalloc", KMODLAB_FI_AT)
#define kzalloc(a, b) kmodlab_fi_kmalloc((a), (b) | __GFP_ZERO, "kzalloc", KMODLAB_FI_AT)
#define kmalloc_array(a, b, c) kmodlab_fi_kmalloc_array((a), (b), (c), "kmalloc_array", KMODLAB_FI_AT)
#define kcalloc(a, b, c) \
	kmodlab_fi_kmalloc_array((a), (b), (c) | __GFP_ZERO, "kcalloc", KMODLAB_FI_AT)
#define krealloc(a, b, c) kmodlab_fi_krealloc((a), (b), (c), "krealloc", KMODLAB_FI_AT)
#define kstrdup(a, b) kmodlab_fi_kstrdup((a), (b), "kstrdup", KMODLAB_FI_AT)
#define kmemdup(a, b, c) kmodlab_fi_kmemdup((a), (b), (c), "kmemdup", KMODLAB_FI_AT)
#define kstrndup(a, b, c) kmodlab_fi_kstrndup((a), (b), (c), "kstrndup", KMODLAB_FI_AT)
#define kmemdup_nul(a, b, c) kmodlab_fi_kmemdup_nul((a), (b), (c), "kmemdup_nul", KMODLAB_FI_AT)
#define kmalloc_node(a, b, c) kmodlab_fi_kmalloc_node((a), (b), (c), "kmalloc_node", KMODLAB_FI_AT)
#define kzalloc_node(a, b, c) \
	kmodlab_fi_kmalloc_node((a), (b) | __GFP_ZERO, (c), "kzalloc_node", KMODLAB_FI_AT)
/* __get_free_page(), alloc_page(), free_page(), __free_page() expand to these. */
#define __get_free_pages(a, b) \
	kmodlab_fi_get_free_pages((a), (b), "__get_free_pages", KMODLAB_FI_AT)
#define get_zeroed_page(a) \
	kmodlab_fi_get_free_pages((a) | __GFP_ZERO, 0, "get_zeroed_page", KMODLAB_FI_AT)
#define alloc_pages(a, b) kmodlab_fi_alloc_pages((a), (b), "alloc_pages", KMODLAB_FI_AT)
#define free_pages(a, b) kmodlab_fi_free_pages((a), (b), "free_pages", KMODLAB_FI_AT)
#define __free_pages(a, b) kmodlab_fi___free_pages((a), (b), "__free_pages", KMODLAB_FI_AT)
#define kasprintf(g, f, ...) ({							\
	gfp_t __kfi_g = (g);							\
	int __kfi_n = kmodlab_fi_begin("kasprintf", KMODLAB_FI_AT,		\
				       KMODLAB_FI_MAY_FAIL(__kfi_g));			\
	char *__kfi_p = __kfi_n < 0 ? NULL : kasprintf(__kfi_g, f, ##__VA_ARGS__);	\
	if (__kfi_n > 0)							\
		kmodlab_fi_note(kmodlab_fi_ptr_op(__kfi_p), __kfi_n, "kasprintf",	\
				KMODLAB_FI_AT, NULL, "h=%px", __kfi_p);		\
	__kfi_p;								\
})
#define vmalloc(a) kmodlab_fi_vmalloc((a), false, "vmalloc", KMODLAB_FI_AT)
#define vzalloc(a) kmodlab_fi_vmalloc((a), true, "vzalloc", KMODLAB_FI_AT)
#define kvmalloc(a, b) kmodlab_fi_kvmalloc_array(1, (a), (b), "kvmalloc", KMODLAB_FI_AT)
#define kvzalloc(a, b) kmodlab_fi_kvmalloc_array(1, (a), (b) | __GFP_ZERO, "kvzalloc", KMODLAB_FI_AT)
#define kvmalloc_array(a, b, c) \
	kmodlab_fi_kvmalloc_array((a), (b), (c), "kvmalloc_array", KMODLAB_FI_AT)
#define kvcalloc(a, b, c) \
	kmodlab_fi_kvmalloc_array((a), (b), (c) | __GFP_ZERO, "kvcalloc", KMODLAB_FI_AT)
#define kmem_cache_create(a, b, c, d, e) \
	kmodlab_fi_kmem_cache_create((a), (b), (c), (d), (e), "kmem_cache_create", KMODLAB_FI_AT)
#define kmem_cache_alloc(a, b) \
	kmodlab_fi_kmem_cache_alloc((a), (b), "kmem_cache_alloc", KMODLAB_FI_AT)
#define kmem_cache_zalloc(a, b) \
	kmodlab_fi_kmem_cache_alloc((a), (b) | __GFP_ZERO, "kmem_cache_zalloc", KMODLAB_FI_AT)

#define kfree(a) kmodlab_fi_free(kfree, (a), "kfree", KMODLAB_FI_AT)
#define kfree_sensitive(a) kmodlab_fi_free(kfree_sensitive, (a), "kfree_sensitive", KMODLAB_FI_AT)
#define kvfree(a) kmodlab_fi_free(kvfree, (a), "kvfree", KMODLAB_FI_AT)
#define vfree(a) kmodlab_fi_free(vfree, (a), "vfree", KMODLAB_FI_AT)
#define kmem_cache_free(a, b) kmodlab_fi_kmem_cache_free((a), (b), "kmem_cache_free", KMODLAB_FI_AT)
#define kmem_cache_destroy(a) \
	kmodlab_fi_kmem_cache_destroy((a), "kmem_cache_destroy", KMODLAB_FI_AT)

#define register_chrdev(a, b, c) \
	kmodlab_fi_register_chrdev((a), (b), (c), "register_chrdev", KMODLAB_FI_AT)
#define unregister_chrdev(a, b) kmodlab_fi_unregister_chrdev((a), (b), "unregister_chrdev", KMODLAB_FI_AT)
#define alloc_chrdev_region(a, b, c, d) \
	kmodlab_fi_alloc_chrdev_region((a), (b), (c), (d), "alloc_chrdev_region", KMODLAB_FI_AT)
#define register_chrdev_region(a, b, c) \
	kmodlab_fi_register_chrdev_region((a), (b), (c), "register_chrdev_region", KMODLAB_FI_AT)
#define unregister_chrdev_region(a, b) \
	kmodlab_fi_unregister_chrdev_region((a), (b), "unregister_chrdev_region", KMODLAB_FI_AT)
#define cdev_alloc() kmodlab_fi_cdev_alloc("cdev_alloc", KMODLAB_FI_AT)
#define cdev_add(a, b, c) kmodlab_fi_cdev_add((a), (b), (c), "cdev_add", KMODLAB_FI_AT)
#define cdev_del(a) kmodlab_fi_cdev_del((a), "cdev_del", KMODLAB_FI_AT)

#undef class_create
#define class_create(a, b) ({							\
	static struct lock_class_key __kfi_key;					\
	kmodlab_fi_class_create((a), (b), &__kfi_key, "class_create", KMODLAB_FI_AT);	\
})
#define class_destroy(a) kmodlab_fi_class_destroy((a), "class_destroy", KMODLAB_FI_AT)
#define device_create(c, p, t, d, f, ...) ({					\
	struct class *__kfi_c = (c);						\
	dev_t __kfi_t = (t);							\
	int __kfi_n = kmodlab_fi_begin("device_create", KMODLAB_FI_AT, true);	\
	struct device *__kfi_d = __kfi_n < 0 ? ERR_PTR(-ENOMEM) :		\
		device_create(__kfi_c, p, __kfi_t, d, f, ##__VA_ARGS__);	\
	if (__kfi_n > 0)							\
		kmodlab_fi_device_done(__kfi_n, __kfi_d, __kfi_c, __kfi_t, KMODLAB_FI_AT);	\
	__kfi_d;								\
})
#define device_destroy(a, b) kmodlab_fi_device_destroy((a), (b), "device_destroy", KMODLAB_FI_AT)
#define device_unregister(a) kmodlab_fi_device_unregister((a), "device_unregister", KMODLAB_FI_AT)
#define misc_register(a) kmodlab_fi_misc_register((a), "misc_register", KMODLAB_FI_AT)
#define misc_deregister(a) kmodlab_fi_misc_deregister((a), "misc_deregister", KMODLAB_FI_AT)

#define proc_create(a, b, c, d) \
	kmodlab_fi_proc_create_data((a), (b), (c), (d), NULL, "proc_create", KMODLAB_FI_AT)
#define proc_create_data(a, b, c, d, e) \
	kmodlab_fi_proc_create_data((a), (b), (c), (d), (e), "proc_create_data", KMODLAB_FI_AT)
#undef proc_create_single
#define proc_create_single(a, b, c, d) kmodlab_fi_proc_create_single_data((a), (b), (c), (d), \
	NULL, "proc_create_single", KMODLAB_FI_AT)
#define proc_create_single_data(a, b, c, d, e) kmodlab_fi_proc_create_single_data((a), (b), \
	(c), (d), (e), "proc_create_single_data", KMODLAB_FI_AT)
#undef proc_create_seq
#undef proc_create_seq_data
#define proc_create_seq(a, b, c, d) kmodlab_fi_proc_create_seq_private((a), (b), (c), (d), 0, \
	NULL, "proc_create_seq", KMODLAB_FI_AT)
#define proc_create_seq_data(a, b, c, d, e) kmodlab_fi_proc_create_seq_private((a), (b), (c), \
	(d), 0, (e), "proc_create_seq_data", KMODLAB_FI_AT)
#define proc_create_seq_private(a, b, c, d, e, f) kmodlab_fi_proc_create_seq_private((a), (b), \
	(c), (d), (e), (f), "proc_create_seq_private", KMODLAB_FI_AT)
#define proc_mkdir(a, b) kmodlab_fi_proc_mkdir((a), (b), "proc_mkdir", KMODLAB_FI_AT)
#define proc_mkdir_mode(a, b, c) \
	kmodlab_fi_proc_mkdir_data((a), (b), (c), NULL, "proc_mkdir_mode", KMODLAB_FI_AT)
#define proc_mkdir_data(a, b, c, d) \
	kmodlab_fi_proc_mkdir_data((a), (b), (c), (d), "proc_mkdir_data", KMODLAB_FI_AT)
#define proc_symlink(a, b, c) kmodlab_fi_proc_symlink((a), (b), (c), "proc_symlink", KMODLAB_FI_AT)
#define proc_remove(a) kmodlab_fi_proc_remove((a), "proc_remove", KMODLAB_FI_AT)
#define remove_proc_entry(a, b) \
	kmodlab_fi_remove_proc_entry((a), (b), "remove_proc_entry", KMODLAB_FI_AT)
#define remove_proc_subtree(a, b) \
	kmodlab_fi_remove_proc_subtree((a), (b), "remove_proc_subtree", KMODLAB_FI_AT)

#define debugfs_create_file(a, b, c, d, e) \
	kmodlab_fi_debugfs_create_file((a), (b), (c), (d), (e), "debugfs_create_file", KMODLAB_FI_AT)
#define debugfs_create_dir(a, b) \
	kmodlab_fi_debugfs_create_dir((a), (b), "debugfs_create_dir", KMODLAB_FI_AT)
/* In 6.1 debugfs_remove_recursive is `#define debugfs_remove_recursive debugfs_remove`:
 * left alone it expands into the wrapped debugfs_remove below. */
#define debugfs_remove(a) kmodlab_fi_debugfs_remove((a), "debugfs_remove", KMODLAB_FI_AT)

#undef kthread_create
#define kthread_create(fn, d, f, ...) ({					\
	int __kfi_n = kmodlab_fi_begin("kthread_create", KMODLAB_FI_AT, true);	\
	struct task_struct *__kfi_t = __kfi_n < 0 ? ERR_PTR(-ENOMEM) :	\
		kthread_create_on_node(fn, d, NUMA_NO_NODE, f, ##__VA_ARGS__);	\
	if (__kfi_n > 0)							\
		kmodlab_fi_task_done(__kfi_n, __kfi_t, "kthread_create", KMODLAB_FI_AT);	\
	__kfi_t;								\
})
#undef kthread_run
#define kthread_run(fn, d, f, ...) ({						\
	int __kfi_n = kmodlab_fi_begin("kthread_run", KMODLAB_FI_AT, true);		\
	struct task_struct *__kfi_t = __kfi_n < 0 ? ERR_PTR(-ENOMEM) :	\
		kthread_create_on_node(fn, d, NUMA_NO_NODE, f, ##__VA_ARGS__);	\
	if (__kfi_n > 0)							\
		kmodlab_fi_task_done(__kfi_n, __kfi_t, "kthread_run", KMODLAB_FI_AT);	\
	if (!IS_ERR(__kfi_t))							\
		wake_up_process(__kfi_t);					\
	__kfi_t;								\
})
#define kthread_stop(a) kmodlab_fi_kthread_stop((a), "kthread_stop", KMODLAB_FI_AT)
/* create_workqueue() and friends expand to alloc_workqueue(): recorded as that. */
#define alloc_workqueue(f, fl, ma, ...) ({					\
	int __kfi_n = kmodlab_fi_begin("alloc_workqueue", KMODLAB_FI_AT, true);	\
	struct workqueue_struct *__kfi_w = __kfi_n < 0 ? NULL :			\
		alloc_workqueue(f, fl, ma, ##__VA_ARGS__);				\
	if (__kfi_n > 0)							\
		kmodlab_fi_note(__kfi_w ? "acquire" : "fail", __kfi_n, "alloc_workqueue", \
				KMODLAB_FI_AT, NULL, "h=%px", __kfi_w);			\
	__kfi_w;								\
})
#define destroy_workqueue(a) \
	kmodlab_fi_destroy_workqueue((a), "destroy_workqueue", KMODLAB_FI_AT)

#endif /* KMODLAB_FI_H */
