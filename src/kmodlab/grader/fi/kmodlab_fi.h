/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmodlab fault-injection header: force-included (-include) before every
 * file of a student's module in the instrumented build.
 *
 * It names calls; it does not count, fail or record them. That is done at
 * link level by the shim (kmodlab_fi_<token>_<i>.c), whose __wrap_<symbol>
 * functions receive every call the module's objects make to the wrapped
 * kernel symbols, however the source spells it. Each macro below leaves a
 * hint (the API's name as the student wrote it, and __FILE__:__LINE__) that
 * the next wrapper of the same family reached by the same task takes as its
 * call site; a call that bypasses these macros (`(kmalloc)(...)`, #undef,
 * a function pointer) is recorded all the same, at its return address.
 *
 * The kernel headers come first so that the macros, defined after them, do
 * not rewrite the kernel's own declarations and static inlines. Inside its
 * own expansion a macro's name is not expanded again, so `kmalloc(...)`
 * there is the kernel's. APIs that were already macros in 6.1
 * (class_create, kthread_create, kthread_run, proc_create_single,
 * proc_create_seq*) are #undef-ed and spelled out with the hint added.
 * The hint function's name is random per build (@KMODLAB_TOKEN@).
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

void kfi_hint_@KMODLAB_TOKEN@(const char *api, const char *family, const char *file, int line);
#define KFI_HINT(api, family) kfi_hint_@KMODLAB_TOKEN@(api, family, __FILE__, __LINE__)

#define kmalloc(...) (KFI_HINT("kmalloc", "kmalloc"), kmalloc(__VA_ARGS__))
#define kzalloc(...) (KFI_HINT("kzalloc", "kmalloc"), kzalloc(__VA_ARGS__))
#define kmalloc_array(...) (KFI_HINT("kmalloc_array", "kmalloc"), kmalloc_array(__VA_ARGS__))
#define kcalloc(...) (KFI_HINT("kcalloc", "kmalloc"), kcalloc(__VA_ARGS__))
#define kmalloc_node(...) (KFI_HINT("kmalloc_node", "kmalloc"), kmalloc_node(__VA_ARGS__))
#define kzalloc_node(...) (KFI_HINT("kzalloc_node", "kmalloc"), kzalloc_node(__VA_ARGS__))
#define krealloc(...) (KFI_HINT("krealloc", "krealloc"), krealloc(__VA_ARGS__))
#define kstrdup(...) (KFI_HINT("kstrdup", "kstrdup"), kstrdup(__VA_ARGS__))
#define kstrndup(...) (KFI_HINT("kstrndup", "kstrndup"), kstrndup(__VA_ARGS__))
#define kmemdup(...) (KFI_HINT("kmemdup", "kmemdup"), kmemdup(__VA_ARGS__))
#define kmemdup_nul(...) (KFI_HINT("kmemdup_nul", "kmemdup_nul"), kmemdup_nul(__VA_ARGS__))
#define kasprintf(...) (KFI_HINT("kasprintf", "kasprintf"), kasprintf(__VA_ARGS__))
#define __get_free_pages(...) (KFI_HINT("__get_free_pages", "pages"), __get_free_pages(__VA_ARGS__))
#define get_zeroed_page(...) (KFI_HINT("get_zeroed_page", "pages"), get_zeroed_page(__VA_ARGS__))
#define alloc_pages(...) (KFI_HINT("alloc_pages", "pages"), alloc_pages(__VA_ARGS__))
#define vmalloc(...) (KFI_HINT("vmalloc", "vmalloc"), vmalloc(__VA_ARGS__))
#define vzalloc(...) (KFI_HINT("vzalloc", "vmalloc"), vzalloc(__VA_ARGS__))
#define kvmalloc(...) (KFI_HINT("kvmalloc", "kvmalloc"), kvmalloc(__VA_ARGS__))
#define kvzalloc(...) (KFI_HINT("kvzalloc", "kvmalloc"), kvzalloc(__VA_ARGS__))
#define kvmalloc_array(...) (KFI_HINT("kvmalloc_array", "kvmalloc"), kvmalloc_array(__VA_ARGS__))
#define kvcalloc(...) (KFI_HINT("kvcalloc", "kvmalloc"), kvcalloc(__VA_ARGS__))
#define kmem_cache_create(...) (KFI_HINT("kmem_cache_create", "kmem_cache_create"), kmem_cache_create(__VA_ARGS__))
#define kmem_cache_alloc(...) (KFI_HINT("kmem_cache_alloc", "kmem_cache_alloc"), kmem_cache_alloc(__VA_ARGS__))
#define kmem_cache_zalloc(...) (KFI_HINT("kmem_cache_zalloc", "kmem_cache_alloc"), kmem_cache_zalloc(__VA_ARGS__))
#define kfree(...) (KFI_HINT("kfree", "kfree"), kfree(__VA_ARGS__))
#define kfree_sensitive(...) (KFI_HINT("kfree_sensitive", "kfree_sensitive"), kfree_sensitive(__VA_ARGS__))
#define kvfree(...) (KFI_HINT("kvfree", "kvfree"), kvfree(__VA_ARGS__))
#define vfree(...) (KFI_HINT("vfree", "vfree"), vfree(__VA_ARGS__))
#define free_pages(...) (KFI_HINT("free_pages", "free_pages"), free_pages(__VA_ARGS__))
#define __free_pages(...) (KFI_HINT("__free_pages", "__free_pages"), __free_pages(__VA_ARGS__))
#define kmem_cache_free(...) (KFI_HINT("kmem_cache_free", "kmem_cache_free"), kmem_cache_free(__VA_ARGS__))
#define kmem_cache_destroy(...) (KFI_HINT("kmem_cache_destroy", "kmem_cache_destroy"), kmem_cache_destroy(__VA_ARGS__))
#define register_chrdev(...) (KFI_HINT("register_chrdev", "register_chrdev"), register_chrdev(__VA_ARGS__))
#define unregister_chrdev(...) (KFI_HINT("unregister_chrdev", "unregister_chrdev"), unregister_chrdev(__VA_ARGS__))
#define alloc_chrdev_region(...) (KFI_HINT("alloc_chrdev_region", "alloc_chrdev_region"), alloc_chrdev_region(__VA_ARGS__))
#define register_chrdev_region(...) (KFI_HINT("register_chrdev_region", "register_chrdev_region"), register_chrdev_region(__VA_ARGS__))
#define unregister_chrdev_region(...) (KFI_HINT("unregister_chrdev_region", "unregister_chrdev_region"), unregister_chrdev_region(__VA_ARGS__))
#define cdev_alloc(...) (KFI_HINT("cdev_alloc", "cdev_alloc"), cdev_alloc(__VA_ARGS__))
#define cdev_add(...) (KFI_HINT("cdev_add", "cdev_add"), cdev_add(__VA_ARGS__))
#define cdev_del(...) (KFI_HINT("cdev_del", "cdev_del"), cdev_del(__VA_ARGS__))
#define class_destroy(...) (KFI_HINT("class_destroy", "class_destroy"), class_destroy(__VA_ARGS__))
#define device_create(...) (KFI_HINT("device_create", "device_create"), device_create(__VA_ARGS__))
#define device_destroy(...) (KFI_HINT("device_destroy", "device_destroy"), device_destroy(__VA_ARGS__))
#define device_unregister(...) (KFI_HINT("device_unregister", "device_unregister"), device_unregister(__VA_ARGS__))
#define misc_register(...) (KFI_HINT("misc_register", "misc_register"), misc_register(__VA_ARGS__))
#define misc_deregister(...) (KFI_HINT("misc_deregister", "misc_deregister"), misc_deregister(__VA_ARGS__))
#define proc_create(...) (KFI_HINT("proc_create", "proc"), proc_create(__VA_ARGS__))
#define proc_create_data(...) (KFI_HINT("proc_create_data", "proc"), proc_create_data(__VA_ARGS__))
#define proc_create_single_data(...) (KFI_HINT("proc_create_single_data", "proc"), proc_create_single_data(__VA_ARGS__))
#define proc_create_seq_private(...) (KFI_HINT("proc_create_seq_private", "proc"), proc_create_seq_private(__VA_ARGS__))
#define proc_mkdir(...) (KFI_HINT("proc_mkdir", "proc"), proc_mkdir(__VA_ARGS__))
#define proc_mkdir_mode(...) (KFI_HINT("proc_mkdir_mode", "proc"), proc_mkdir_mode(__VA_ARGS__))
#define proc_mkdir_data(...) (KFI_HINT("proc_mkdir_data", "proc"), proc_mkdir_data(__VA_ARGS__))
#define proc_symlink(...) (KFI_HINT("proc_symlink", "proc"), proc_symlink(__VA_ARGS__))
#define proc_remove(...) (KFI_HINT("proc_remove", "proc_remove"), proc_remove(__VA_ARGS__))
#define remove_proc_entry(...) (KFI_HINT("remove_proc_entry", "remove_proc_entry"), remove_proc_entry(__VA_ARGS__))
#define remove_proc_subtree(...) (KFI_HINT("remove_proc_subtree", "remove_proc_subtree"), remove_proc_subtree(__VA_ARGS__))
#define debugfs_create_file(...) (KFI_HINT("debugfs_create_file", "debugfs_create_file"), debugfs_create_file(__VA_ARGS__))
#define debugfs_create_dir(...) (KFI_HINT("debugfs_create_dir", "debugfs_create_dir"), debugfs_create_dir(__VA_ARGS__))
#define debugfs_remove(...) (KFI_HINT("debugfs_remove", "debugfs_remove"), debugfs_remove(__VA_ARGS__))
#define devm_kmalloc(...) (KFI_HINT("devm_kmalloc", "devm"), devm_kmalloc(__VA_ARGS__))
#define devm_kzalloc(...) (KFI_HINT("devm_kzalloc", "devm"), devm_kzalloc(__VA_ARGS__))
#define devm_kcalloc(...) (KFI_HINT("devm_kcalloc", "devm"), devm_kcalloc(__VA_ARGS__))
#define devm_kmalloc_array(...) (KFI_HINT("devm_kmalloc_array", "devm"), devm_kmalloc_array(__VA_ARGS__))
#define kthread_stop(...) (KFI_HINT("kthread_stop", "kthread_stop"), kthread_stop(__VA_ARGS__))
#define alloc_workqueue(...) (KFI_HINT("alloc_workqueue", "alloc_workqueue"), alloc_workqueue(__VA_ARGS__))
#define destroy_workqueue(...) (KFI_HINT("destroy_workqueue", "destroy_workqueue"), destroy_workqueue(__VA_ARGS__))

#undef class_create
#define class_create(a, b) ({							\
	static struct lock_class_key __kfi_key;					\
	KFI_HINT("class_create", "class_create");				\
	__class_create((a), (b), &__kfi_key);					\
})
#undef proc_create_single
#define proc_create_single(a, b, c, d) \
	(KFI_HINT("proc_create_single", "proc"), (proc_create_single_data)((a), (b), (c), (d), NULL))
#undef proc_create_seq
#define proc_create_seq(a, b, c, d) \
	(KFI_HINT("proc_create_seq", "proc"), (proc_create_seq_private)((a), (b), (c), (d), 0, NULL))
#undef proc_create_seq_data
#define proc_create_seq_data(a, b, c, d, e) \
	(KFI_HINT("proc_create_seq_data", "proc"), (proc_create_seq_private)((a), (b), (c), (d), 0, (e)))
#undef kthread_create
#define kthread_create(fn, d, f, ...) \
	(KFI_HINT("kthread_create", "kthread"), \
	 kthread_create_on_node(fn, d, NUMA_NO_NODE, f, ##__VA_ARGS__))
#undef kthread_run
#define kthread_run(fn, d, f, ...) ({						\
	struct task_struct *__kfi_t;						\
	KFI_HINT("kthread_run", "kthread");					\
	__kfi_t = kthread_create_on_node(fn, d, NUMA_NO_NODE, f, ##__VA_ARGS__);	\
	if (!IS_ERR(__kfi_t))							\
		wake_up_process(__kfi_t);					\
	__kfi_t;								\
})

#endif /* KMODLAB_FI_H */
