// SPDX-License-Identifier: GPL-2.0
/*
 * kmodlab fault-injection shim: one copy linked into each instrumented
 * module (as kmodlab_fi_<random token>_<i>.c). kmodlab.grader.instrument
 * fills in the nonce, a random token and key, and one `#define KFI_W_<symbol>`
 * per kernel symbol the module's own objects import; the module is then
 * linked with `--wrap=<symbol>` for each of them.
 *
 * Why at link level: every way of spelling a call, `kmalloc(...)`,
 * `(kmalloc)(...)`, a call after `#undef kmalloc`, or a call through a
 * function pointer, ends in the same undefined symbol of the module
 * (kmalloc_trace, __kmalloc, ...), and ld's --wrap sends each of those
 * references to __wrap_<symbol> here. So this file, not the forced header,
 * counts the module's fallible calls, fails the armed one and writes every
 * call, injection, acquisition and release to the kernel log at KERN_DEBUG:
 *
 *   <nonce> <seq> <op> <api> [n=<call>] [key=value ...] [name=<escaped>]
 *           mod=<module> load=<id> (at=<file>:<line> | ret=<caller as %pS>)
 *
 * The forced header only leaves a hint (the API's name as written and its
 * __FILE__:__LINE__) for the wrapper that the same task reaches next; a
 * call that bypassed the header's macros has none, and is recorded with its
 * caller's return address, which the host decodes with the .ko's debug info.
 *
 * Which call fails is not a module parameter (a module can read its load
 * arguments): it is kfi_arm, patched by the host into a copy of the .ko for
 * each injected load, XORed with a per-build key, so that an armed copy and
 * a normal one differ only in four bytes of this file's data.
 *
 * Everything here is static except the hint function (random name) and the
 * __wrap_ entry points ld needs; the student's code cannot name the record
 * writer, and every record states what the kernel call really did.
 *
 * Nothing here may depend on the module it is linked into at compile time
 * (KBUILD_MODNAME, the file's name): one object, compiled in a clean folder,
 * serves every module of a class that imports the same symbols
 * (grader/collection/shimcache.py), with the per-grade secrets patched in.
 */
#include <linux/atomic.h>
#include <linux/cdev.h>
#include <linux/ctype.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/hash.h>
#include <linux/kobject.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/proc_fs.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

/* The symbols this module imports, each wrapped (filled in per module). */
@KMODLAB_WRAPS@

/* Heavy headers only for a module that uses their APIs: every build compiles this file. */
#if defined(KFI_W_request_threaded_irq) || defined(KFI_W_free_irq) || \
	defined(KFI_W_devm_request_threaded_irq)
#include <linux/interrupt.h>
#endif
#if defined(KFI_W_platform_device_register) || defined(KFI_W_platform_device_register_full) || \
	defined(KFI_W___platform_driver_register) || defined(KFI_W_platform_device_unregister) || \
	defined(KFI_W_platform_driver_unregister) || defined(KFI_W_platform_device_alloc) || \
	defined(KFI_W_platform_device_add) || defined(KFI_W_platform_device_put) || \
	defined(KFI_W_platform_device_del)
#include <linux/platform_device.h>
#endif
#if defined(KFI_W___register_blkdev) || defined(KFI_W_unregister_blkdev) || \
	defined(KFI_W_blk_mq_alloc_tag_set) || defined(KFI_W_blk_mq_free_tag_set) || \
	defined(KFI_W_blk_mq_init_queue) || defined(KFI_W_blk_mq_destroy_queue) || \
	defined(KFI_W___blk_mq_alloc_disk) || defined(KFI_W_device_add_disk) || \
	defined(KFI_W_del_gendisk) || defined(KFI_W_put_disk)
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#endif
#if defined(KFI_W_alloc_netdev_mqs) || defined(KFI_W_register_netdev) || \
	defined(KFI_W_unregister_netdev) || defined(KFI_W_free_netdev)
#include <linux/netdevice.h>
#endif

#define KFI_NONCE "@KMODLAB_NONCE@"
#define KFI_KEY @KMODLAB_KEY@u
/* Names longer than this are cut: records stay short in a 128 KiB log. */
#define KFI_NAME_MAX 64
/* Room for a name formatted here (device, thread and workqueue names). */
#define KFI_FMT_MAX 128

/*
 * In .data (never 0: that would go to .bss, with no bytes in the file to patch).
 * The key is a variable too, not an immediate in the code: a shim object compiled
 * once for a class gets each grade's key written into these two, by symbol.
 */
static u32 kfi_arm_@KMODLAB_TOKEN@ __used = KFI_KEY;
static u32 kfi_key_@KMODLAB_TOKEN@ __used = KFI_KEY;

static atomic_t kfi_calls = ATOMIC_INIT(0);
static atomic_t kfi_seq = ATOMIC_INIT(0);
static u32 kfi_load;

struct kfi_hint {
	struct task_struct *task;
	const char *api, *family, *file;
	int line;
};

#define KFI_HINTS 8
static struct kfi_hint kfi_hints[KFI_HINTS];
static DEFINE_SPINLOCK(kfi_hint_lock);

/*
 * The registration in progress on this task (platform_driver_register, ...):
 * a call the module makes while it runs is made by a callback the kernel
 * called on the module's behalf (a probe), and its record says so (in=).
 * Such a failure is the callback's to handle, not init's: the driver core
 * logs the failed probe and the registration still succeeds.
 */
static struct task_struct *kfi_cb_task;
static const char *kfi_cb_api;

struct kfi_inside {
	struct task_struct *task;
	const char *api;
};

static void __maybe_unused kfi_enter(struct kfi_inside *saved, const char *api)
{
	*saved = (struct kfi_inside){ READ_ONCE(kfi_cb_task), READ_ONCE(kfi_cb_api) };
	WRITE_ONCE(kfi_cb_api, api);
	WRITE_ONCE(kfi_cb_task, current);
}

static void __maybe_unused kfi_leave(const struct kfi_inside *saved)
{
	WRITE_ONCE(kfi_cb_task, saved->task);
	WRITE_ONCE(kfi_cb_api, saved->api);
}

static const char *kfi_inside_api(void)
{
	if (in_interrupt() || READ_ONCE(kfi_cb_task) != current)
		return NULL;
	return READ_ONCE(kfi_cb_api);
}

struct kfi_site {
	const char *api;
	const char *file;  /* NULL: the call bypassed the header, use ret */
	int line;
	unsigned long ret;
};

static unsigned int kfi_armed(void)
{
	return READ_ONCE(kfi_arm_@KMODLAB_TOKEN@) ^ READ_ONCE(kfi_key_@KMODLAB_TOKEN@);
}

/* A random id per load, so records of two loads of one module never pair. */
static u32 kfi_load_id(void)
{
	u32 id = READ_ONCE(kfi_load);

	if (!id) {
		cmpxchg(&kfi_load, 0, get_random_u32() | 1);
		id = READ_ONCE(kfi_load);
	}
	return id;
}

/* Called by the forced header's macros, just before the API they name. */
void kfi_hint_@KMODLAB_TOKEN@(const char *api, const char *family, const char *file, int line)
{
	struct kfi_hint *h;
	unsigned long flags;

	if (in_interrupt())
		return;
	h = &kfi_hints[hash_ptr(current, 3)];
	spin_lock_irqsave(&kfi_hint_lock, flags);
	*h = (struct kfi_hint){ current, api, family, file, line };
	spin_unlock_irqrestore(&kfi_hint_lock, flags);
}

/*
 * Where a wrapped call came from: the hint this task left for this family of
 * calls, taken once; otherwise the caller's return address.
 */
static void kfi_where(struct kfi_site *s, const char *api, const char *family, unsigned long ret)
{
	struct kfi_hint *h;
	unsigned long flags;

	*s = (struct kfi_site){ api, NULL, 0, ret };
	if (in_interrupt())
		return;
	h = &kfi_hints[hash_ptr(current, 3)];
	spin_lock_irqsave(&kfi_hint_lock, flags);
	if (h->task == current && h->family && !strcmp(h->family, family)) {
		s->api = h->api;
		s->file = h->file;
		s->line = h->line;
		h->task = NULL;
	}
	spin_unlock_irqrestore(&kfi_hint_lock, flags);
}

/* Names go in one space-free token: anything but [A-Za-z0-9_.:/+-] becomes %XX. */
static void kfi_escape(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, taken = 0;

	for (; *s && taken < KFI_NAME_MAX && i + 4 <= size; s++, taken++) {
		unsigned char c = *s;

		if (isalnum(c) || strchr("_.:/+-", c)) {
			out[i++] = c;
		} else {
			out[i++] = '%';
			out[i++] = hex[c >> 4];
			out[i++] = hex[c & 15];
		}
	}
	out[i] = '\0';
}

static __printf(5, 6) void kfi_note(const char *op, int n, const struct kfi_site *s,
				    const char *name, const char *fmt, ...)
{
	char esc[KFI_NAME_MAX * 3 + 1] = "";
	char num[16] = "";
	char inside[48] = "";
	const char *in_api = kfi_inside_api();
	unsigned int seq = atomic_inc_return(&kfi_seq);
	struct va_format vaf;
	va_list args;

	if (n > 0)
		snprintf(num, sizeof(num), " n=%d", n);
	if (name)
		kfi_escape(esc, sizeof(esc), name);
	if (in_api)
		snprintf(inside, sizeof(inside), " in=%s", in_api);
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	/* One printk per record: two calls could be split by another CPU's line. */
	if (s->file)
		printk(KERN_DEBUG "%s %u %s %s%s %pV%s%s%s mod=%s load=%08x at=%s:%d\n", KFI_NONCE,
		       seq, op, s->api, num, &vaf, name ? " name=" : "", esc, inside,
		       THIS_MODULE->name, kfi_load_id(), s->file, s->line);
	else /* ret last: %pS prints "func+0x1c/0x60 [module]", with a space */
		printk(KERN_DEBUG "%s %u %s %s%s %pV%s%s%s mod=%s load=%08x ret=%pS\n", KFI_NONCE,
		       seq, op, s->api, num, &vaf, name ? " name=" : "", esc, inside,
		       THIS_MODULE->name, kfi_load_id(), (void *)s->ret);
	va_end(args);
}

/*
 * Count a fallible call; a negative result: fail it (it was call -n). A call
 * that cannot fail (__GFP_NOFAIL) is recorded with n = 0, uncounted: it is
 * no fault-injection point.
 */
static int kfi_begin(struct kfi_site *s, const char *api, const char *family, unsigned long ret,
		     bool may_fail)
{
	int n;

	kfi_where(s, api, family, ret);
	if (!may_fail)
		return 0;
	n = atomic_inc_return(&kfi_calls);
	if ((unsigned int)n != kfi_armed())
		return n;
	kfi_note("inject", n, s, NULL, "via=%s", family);
	return -n;
}

static void kfi_release(const char *api, unsigned long ret, const char *name, const char *fmt,
			...)
{
	struct kfi_site s;
	struct va_format vaf;
	va_list args;

	kfi_where(&s, api, api, ret);
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	kfi_note("release", 0, &s, name, "%pV", &vaf);
	va_end(args);
}

/* An allocation with __GFP_NOFAIL never fails for real: it is counted, never failed. */
#define KFI_MAY(flags) (!((flags) & __GFP_NOFAIL))

static const char *kfi_ptr_op(const void *p)
{
	if (!p || IS_ERR(p))
		return "fail";
	/* kmalloc(0) gives ZERO_SIZE_PTR: a success with nothing to free. */
	return ZERO_OR_NULL_PTR(p) ? "call" : "acquire";
}

static int kfi_int_done(int n, const struct kfi_site *s, int ret, const char *name,
			const char *handle_fmt, unsigned long handle)
{
	if (ret < 0)
		kfi_note("fail", n, s, name, "err=%d", ret);
	else
		kfi_note("acquire", n, s, name, handle_fmt, handle);
	return ret;
}

/* ---- memory ------------------------------------------------------------ */
/*
 * The kmalloc family goes through __kmalloc_node_track_caller with the
 * student's return address, so the kmem tracepoint (the kernel's own
 * witness) still names the student's call site, not this file.
 */
#ifdef KFI_W___kmalloc_node_track_caller
void *__real___kmalloc_node_track_caller(size_t size, gfp_t flags, int node,
					 unsigned long caller);

static void *kfi_kmalloc(const char *api, size_t size, gfp_t flags, int node, unsigned long ret)
{
	struct kfi_site s;
	int n = kfi_begin(&s, api, "kmalloc", ret, KFI_MAY(flags));
	void *p;

	if (n < 0)
		return NULL;
	p = __real___kmalloc_node_track_caller(size, flags, node, ret);
	kfi_note(kfi_ptr_op(p), n, &s, NULL, "h=%px size=%zu", p, size);
	return p;
}

void *__wrap___kmalloc_node_track_caller(size_t size, gfp_t flags, int node, unsigned long caller)
{
	return kfi_kmalloc("kmalloc", size, flags, node, _RET_IP_);
}

/* Allocate a copy at the caller's site: kstrdup and friends charge their caller. */
static void *kfi_copy(const char *api, const void *src, size_t len, size_t size, gfp_t flags,
		      unsigned long ret)
{
	struct kfi_site s;
	int n = kfi_begin(&s, api, api, ret, KFI_MAY(flags));
	char *p;

	if (n < 0)
		return NULL;
	p = __real___kmalloc_node_track_caller(size, flags, NUMA_NO_NODE, ret);
	if (p) {
		memcpy(p, src, len);
		if (size > len)
			p[len] = '\0';
	}
	kfi_note(kfi_ptr_op(p), n, &s, NULL, "h=%px size=%zu", p, size);
	return p;
}

static char *kfi_vasprintf(const char *api, gfp_t gfp, const char *fmt, va_list ap,
			   unsigned long ret)
{
	struct kfi_site s;
	int n = kfi_begin(&s, api, "kasprintf", ret, KFI_MAY(gfp));
	unsigned int len;
	char *p;
	va_list aq;

	if (n < 0)
		return NULL;
	va_copy(aq, ap);
	len = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	p = __real___kmalloc_node_track_caller(len + 1, gfp, NUMA_NO_NODE, ret);
	if (p)
		vsnprintf(p, len + 1, fmt, ap);
	kfi_note(kfi_ptr_op(p), n, &s, NULL, "h=%px size=%u", p, len + 1);
	return p;
}
#endif

#ifdef KFI_W_kmalloc_trace
void *__wrap_kmalloc_trace(struct kmem_cache *c, gfp_t flags, size_t size)
{
	return kfi_kmalloc("kmalloc", size, flags, NUMA_NO_NODE, _RET_IP_);
}
#endif
#ifdef KFI_W_kmalloc_node_trace
void *__wrap_kmalloc_node_trace(struct kmem_cache *c, gfp_t flags, int node, size_t size)
{
	return kfi_kmalloc("kmalloc_node", size, flags, node, _RET_IP_);
}
#endif
#ifdef KFI_W___kmalloc
void *__wrap___kmalloc(size_t size, gfp_t flags)
{
	return kfi_kmalloc("kmalloc", size, flags, NUMA_NO_NODE, _RET_IP_);
}
#endif
#ifdef KFI_W___kmalloc_node
void *__wrap___kmalloc_node(size_t size, gfp_t flags, int node)
{
	return kfi_kmalloc("kmalloc_node", size, flags, node, _RET_IP_);
}
#endif
#ifdef KFI_W_kmalloc_large
void *__wrap_kmalloc_large(size_t size, gfp_t flags)
{
	return kfi_kmalloc("kmalloc", size, flags, NUMA_NO_NODE, _RET_IP_);
}
#endif
#ifdef KFI_W_kmalloc_large_node
void *__wrap_kmalloc_large_node(size_t size, gfp_t flags, int node)
{
	return kfi_kmalloc("kmalloc_node", size, flags, node, _RET_IP_);
}
#endif
#ifdef KFI_W_kstrdup
char *__wrap_kstrdup(const char *str, gfp_t gfp)
{
	size_t len;

	if (!str) /* kstrdup(NULL) is NULL without having failed */
		return NULL;
	len = strlen(str);
	return kfi_copy("kstrdup", str, len, len + 1, gfp, _RET_IP_);
}
#endif
#ifdef KFI_W_kstrndup
char *__wrap_kstrndup(const char *str, size_t max, gfp_t gfp)
{
	size_t len;

	if (!str)
		return NULL;
	len = strnlen(str, max);
	return kfi_copy("kstrndup", str, len, len + 1, gfp, _RET_IP_);
}
#endif
#ifdef KFI_W_kmemdup
void *__wrap_kmemdup(const void *src, size_t len, gfp_t gfp)
{
	return kfi_copy("kmemdup", src, len, len, gfp, _RET_IP_);
}
#endif
#ifdef KFI_W_kmemdup_nul
char *__wrap_kmemdup_nul(const char *str, size_t len, gfp_t gfp)
{
	if (!str)
		return NULL;
	return kfi_copy("kmemdup_nul", str, len, len + 1, gfp, _RET_IP_);
}
#endif
#ifdef KFI_W_kasprintf
char *__wrap_kasprintf(gfp_t gfp, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = kfi_vasprintf("kasprintf", gfp, fmt, ap, _RET_IP_);
	va_end(ap);
	return p;
}
#endif
#ifdef KFI_W_kvasprintf
char *__wrap_kvasprintf(gfp_t gfp, const char *fmt, va_list ap)
{
	return kfi_vasprintf("kvasprintf", gfp, fmt, ap, _RET_IP_);
}
#endif
#ifdef KFI_W_krealloc
void *__real_krealloc(const void *p, size_t size, gfp_t flags);
void *__wrap_krealloc(const void *old, size_t size, gfp_t flags)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "krealloc", "krealloc", _RET_IP_, KFI_MAY(flags));
	void *p;

	if (n < 0)
		return NULL; /* as a real failure: the old block stays valid */
	p = __real_krealloc(old, size, flags);
	kfi_note(kfi_ptr_op(p), n, &s, NULL, "h=%px old=%px size=%zu", p, old, size);
	return p;
}
#endif

#ifdef KFI_W___get_free_pages
unsigned long __real___get_free_pages(gfp_t flags, unsigned int order);
unsigned long __wrap___get_free_pages(gfp_t flags, unsigned int order)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "__get_free_pages", "pages", _RET_IP_, KFI_MAY(flags));
	unsigned long a;

	if (n < 0)
		return 0;
	a = __real___get_free_pages(flags, order);
	kfi_note(a ? "acquire" : "fail", n, &s, NULL, "h=%px size=%lu", (void *)a,
		 PAGE_SIZE << order);
	return a;
}
#endif
#ifdef KFI_W_get_zeroed_page
unsigned long __real_get_zeroed_page(gfp_t flags);
unsigned long __wrap_get_zeroed_page(gfp_t flags)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "get_zeroed_page", "pages", _RET_IP_, KFI_MAY(flags));
	unsigned long a;

	if (n < 0)
		return 0;
	a = __real_get_zeroed_page(flags);
	kfi_note(a ? "acquire" : "fail", n, &s, NULL, "h=%px size=%lu", (void *)a, PAGE_SIZE);
	return a;
}
#endif
#ifdef KFI_W_alloc_pages
struct page *__real_alloc_pages(gfp_t flags, unsigned int order);
struct page *__wrap_alloc_pages(gfp_t flags, unsigned int order)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "alloc_pages", "pages", _RET_IP_, KFI_MAY(flags));
	struct page *p;

	if (n < 0)
		return NULL;
	p = __real_alloc_pages(flags, order);
	kfi_note(p ? "acquire" : "fail", n, &s, NULL, "h=%px size=%lu", p, PAGE_SIZE << order);
	return p;
}
#endif
#ifdef KFI_W___alloc_pages
struct page *__real___alloc_pages(gfp_t gfp, unsigned int order, int nid, nodemask_t *mask);
struct page *__wrap___alloc_pages(gfp_t gfp, unsigned int order, int nid, nodemask_t *mask)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "alloc_pages", "pages", _RET_IP_, KFI_MAY(gfp));
	struct page *p;

	if (n < 0)
		return NULL;
	p = __real___alloc_pages(gfp, order, nid, mask);
	kfi_note(p ? "acquire" : "fail", n, &s, NULL, "h=%px size=%lu", p, PAGE_SIZE << order);
	return p;
}
#endif

static void *kfi_vdone(int n, const struct kfi_site *s, void *p, unsigned long size)
{
	kfi_note(kfi_ptr_op(p), n, s, NULL, "h=%px size=%lu", p, size);
	return p;
}

#ifdef KFI_W_vmalloc
void *__real_vmalloc(unsigned long size);
void *__wrap_vmalloc(unsigned long size)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "vmalloc", "vmalloc", _RET_IP_, true);

	return n < 0 ? NULL : kfi_vdone(n, &s, __real_vmalloc(size), size);
}
#endif
#ifdef KFI_W_vzalloc
void *__real_vzalloc(unsigned long size);
void *__wrap_vzalloc(unsigned long size)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "vzalloc", "vmalloc", _RET_IP_, true);

	return n < 0 ? NULL : kfi_vdone(n, &s, __real_vzalloc(size), size);
}
#endif
#ifdef KFI_W___vmalloc
void *__real___vmalloc(unsigned long size, gfp_t gfp);
void *__wrap___vmalloc(unsigned long size, gfp_t gfp)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "vmalloc", "vmalloc", _RET_IP_, KFI_MAY(gfp));

	return n < 0 ? NULL : kfi_vdone(n, &s, __real___vmalloc(size, gfp), size);
}
#endif
#ifdef KFI_W_kvmalloc_node
void *__real_kvmalloc_node(size_t size, gfp_t flags, int node);
void *__wrap_kvmalloc_node(size_t size, gfp_t flags, int node)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kvmalloc", "kvmalloc", _RET_IP_, KFI_MAY(flags));

	return n < 0 ? NULL : kfi_vdone(n, &s, __real_kvmalloc_node(size, flags, node), size);
}
#endif

#ifdef KFI_W_kmem_cache_create
struct kmem_cache *__real_kmem_cache_create(const char *name, unsigned int size,
					    unsigned int align, slab_flags_t flags,
					    void (*ctor)(void *));
struct kmem_cache *__wrap_kmem_cache_create(const char *name, unsigned int size,
					    unsigned int align, slab_flags_t flags,
					    void (*ctor)(void *))
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kmem_cache_create", "kmem_cache_create", _RET_IP_, true);
	struct kmem_cache *c;

	if (n < 0)
		return NULL;
	c = __real_kmem_cache_create(name, size, align, flags, ctor);
	kfi_note(kfi_ptr_op(c), n, &s, name, "h=%px size=%u", c, size);
	return c;
}
#endif
#ifdef KFI_W_kmem_cache_create_usercopy
struct kmem_cache *__real_kmem_cache_create_usercopy(const char *name, unsigned int size,
		unsigned int align, slab_flags_t flags, unsigned int useroffset,
		unsigned int usersize, void (*ctor)(void *));
struct kmem_cache *__wrap_kmem_cache_create_usercopy(const char *name, unsigned int size,
		unsigned int align, slab_flags_t flags, unsigned int useroffset,
		unsigned int usersize, void (*ctor)(void *))
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kmem_cache_create", "kmem_cache_create", _RET_IP_, true);
	struct kmem_cache *c;

	if (n < 0)
		return NULL;
	c = __real_kmem_cache_create_usercopy(name, size, align, flags, useroffset, usersize,
					      ctor);
	kfi_note(kfi_ptr_op(c), n, &s, name, "h=%px size=%u", c, size);
	return c;
}
#endif

static void *kfi_slab_done(int n, const struct kfi_site *s, void *p, struct kmem_cache *c)
{
	kfi_note(kfi_ptr_op(p), n, s, NULL, "h=%px cache=%px", p, c);
	return p;
}

#ifdef KFI_W_kmem_cache_alloc
void *__real_kmem_cache_alloc(struct kmem_cache *c, gfp_t flags);
void *__wrap_kmem_cache_alloc(struct kmem_cache *c, gfp_t flags)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kmem_cache_alloc", "kmem_cache_alloc", _RET_IP_, KFI_MAY(flags));

	return n < 0 ? NULL : kfi_slab_done(n, &s, __real_kmem_cache_alloc(c, flags), c);
}
#endif
#ifdef KFI_W_kmem_cache_alloc_lru
void *__real_kmem_cache_alloc_lru(struct kmem_cache *c, struct list_lru *lru, gfp_t flags);
void *__wrap_kmem_cache_alloc_lru(struct kmem_cache *c, struct list_lru *lru, gfp_t flags)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kmem_cache_alloc", "kmem_cache_alloc", _RET_IP_, KFI_MAY(flags));

	return n < 0 ? NULL : kfi_slab_done(n, &s, __real_kmem_cache_alloc_lru(c, lru, flags), c);
}
#endif
#ifdef KFI_W_kmem_cache_alloc_node
void *__real_kmem_cache_alloc_node(struct kmem_cache *c, gfp_t flags, int node);
void *__wrap_kmem_cache_alloc_node(struct kmem_cache *c, gfp_t flags, int node)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kmem_cache_alloc", "kmem_cache_alloc", _RET_IP_, KFI_MAY(flags));

	return n < 0 ? NULL : kfi_slab_done(n, &s, __real_kmem_cache_alloc_node(c, flags, node), c);
}
#endif

/* ---- releases: the record comes first, while the handle is still valid -- */

#define KFI_RELEASE_PTR(sym, type)						\
	void __real_##sym(type p);						\
	void __wrap_##sym(type p)						\
	{									\
		kfi_release(#sym, _RET_IP_, NULL, "h=%px", p);			\
		__real_##sym(p);						\
	}

#ifdef KFI_W_kfree
KFI_RELEASE_PTR(kfree, const void *)
#endif
#ifdef KFI_W_kfree_sensitive
KFI_RELEASE_PTR(kfree_sensitive, const void *)
#endif
#ifdef KFI_W_kvfree
KFI_RELEASE_PTR(kvfree, const void *)
#endif
#ifdef KFI_W_vfree
KFI_RELEASE_PTR(vfree, const void *)
#endif
#ifdef KFI_W_kmem_cache_destroy
KFI_RELEASE_PTR(kmem_cache_destroy, struct kmem_cache *)
#endif
#ifdef KFI_W_cdev_del
KFI_RELEASE_PTR(cdev_del, struct cdev *)
#endif
#ifdef KFI_W_class_destroy
KFI_RELEASE_PTR(class_destroy, struct class *)
#endif
#ifdef KFI_W_class_unregister
KFI_RELEASE_PTR(class_unregister, struct class *)
#endif
#ifdef KFI_W_device_unregister
KFI_RELEASE_PTR(device_unregister, struct device *)
#endif
#ifdef KFI_W_misc_deregister
KFI_RELEASE_PTR(misc_deregister, struct miscdevice *)
#endif
#ifdef KFI_W_proc_remove
KFI_RELEASE_PTR(proc_remove, struct proc_dir_entry *)
#endif
#ifdef KFI_W_debugfs_remove
KFI_RELEASE_PTR(debugfs_remove, struct dentry *)
#endif
#ifdef KFI_W_destroy_workqueue
KFI_RELEASE_PTR(destroy_workqueue, struct workqueue_struct *)
#endif
#ifdef KFI_W_kobject_put
KFI_RELEASE_PTR(kobject_put, struct kobject *)
#endif
#ifdef KFI_W_platform_device_unregister
KFI_RELEASE_PTR(platform_device_unregister, struct platform_device *)
#endif
#ifdef KFI_W_platform_driver_unregister
KFI_RELEASE_PTR(platform_driver_unregister, struct platform_driver *)
#endif
#ifdef KFI_W_platform_device_put
KFI_RELEASE_PTR(platform_device_put, struct platform_device *)
#endif
#ifdef KFI_W_platform_device_del
KFI_RELEASE_PTR(platform_device_del, struct platform_device *)
#endif
#ifdef KFI_W_blk_mq_free_tag_set
KFI_RELEASE_PTR(blk_mq_free_tag_set, struct blk_mq_tag_set *)
#endif
#ifdef KFI_W_blk_mq_destroy_queue
KFI_RELEASE_PTR(blk_mq_destroy_queue, struct request_queue *)
#endif
#ifdef KFI_W_del_gendisk
KFI_RELEASE_PTR(del_gendisk, struct gendisk *)
#endif
#ifdef KFI_W_put_disk
KFI_RELEASE_PTR(put_disk, struct gendisk *)
#endif
#ifdef KFI_W_free_netdev
KFI_RELEASE_PTR(free_netdev, struct net_device *)
#endif
#ifdef KFI_W_unregister_netdev
KFI_RELEASE_PTR(unregister_netdev, struct net_device *)
#endif

#ifdef KFI_W_free_pages
void __real_free_pages(unsigned long addr, unsigned int order);
void __wrap_free_pages(unsigned long addr, unsigned int order)
{
	kfi_release("free_pages", _RET_IP_, NULL, "h=%px", (void *)addr);
	__real_free_pages(addr, order);
}
#endif
#ifdef KFI_W___free_pages
void __real___free_pages(struct page *p, unsigned int order);
void __wrap___free_pages(struct page *p, unsigned int order)
{
	kfi_release("__free_pages", _RET_IP_, NULL, "h=%px", p);
	__real___free_pages(p, order);
}
#endif
#ifdef KFI_W_kmem_cache_free
void __real_kmem_cache_free(struct kmem_cache *c, void *p);
void __wrap_kmem_cache_free(struct kmem_cache *c, void *p)
{
	kfi_release("kmem_cache_free", _RET_IP_, NULL, "h=%px cache=%px", p, c);
	__real_kmem_cache_free(c, p);
}
#endif
#ifdef KFI_W_kthread_stop
int __real_kthread_stop(struct task_struct *t);
int __wrap_kthread_stop(struct task_struct *t)
{
	kfi_release("kthread_stop", _RET_IP_, NULL, "h=%px", t);
	return __real_kthread_stop(t);
}
#endif

/* ---- character devices ------------------------------------------------- */

#ifdef KFI_W___register_chrdev
int __real___register_chrdev(unsigned int major, unsigned int baseminor, unsigned int count,
			     const char *name, const struct file_operations *fops);
int __wrap___register_chrdev(unsigned int major, unsigned int baseminor, unsigned int count,
			     const char *name, const struct file_operations *fops)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "register_chrdev", "register_chrdev", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real___register_chrdev(major, baseminor, count, name, fops);
	/* major 0 asks for a free major, which is returned; a given major returns 0. */
	return kfi_int_done(n, &s, ret, name, "h=%lu", major ? major : ret);
}
#endif
#ifdef KFI_W___unregister_chrdev
void __real___unregister_chrdev(unsigned int major, unsigned int baseminor, unsigned int count,
				const char *name);
void __wrap___unregister_chrdev(unsigned int major, unsigned int baseminor, unsigned int count,
				const char *name)
{
	kfi_release("unregister_chrdev", _RET_IP_, name, "h=%u", major);
	__real___unregister_chrdev(major, baseminor, count, name);
}
#endif
#ifdef KFI_W_alloc_chrdev_region
int __real_alloc_chrdev_region(dev_t *dev, unsigned int baseminor, unsigned int count,
			       const char *name);
int __wrap_alloc_chrdev_region(dev_t *dev, unsigned int baseminor, unsigned int count,
			       const char *name)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "alloc_chrdev_region", "alloc_chrdev_region", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real_alloc_chrdev_region(dev, baseminor, count, name);
	if (ret < 0)
		return kfi_int_done(n, &s, ret, name, "h=%lu", 0);
	/* The region is released by (first dev_t, count): both are the handle. */
	kfi_note("acquire", n, &s, name, "h=%u count=%u dev=%u:%u", *dev, count, MAJOR(*dev),
		 MINOR(*dev));
	return ret;
}
#endif
#ifdef KFI_W_register_chrdev_region
int __real_register_chrdev_region(dev_t from, unsigned int count, const char *name);
int __wrap_register_chrdev_region(dev_t from, unsigned int count, const char *name)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "register_chrdev_region", "register_chrdev_region", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real_register_chrdev_region(from, count, name);
	if (ret < 0)
		return kfi_int_done(n, &s, ret, name, "h=%lu", 0);
	kfi_note("acquire", n, &s, name, "h=%u count=%u dev=%u:%u", from, count, MAJOR(from),
		 MINOR(from));
	return ret;
}
#endif
#ifdef KFI_W_unregister_chrdev_region
void __real_unregister_chrdev_region(dev_t from, unsigned int count);
void __wrap_unregister_chrdev_region(dev_t from, unsigned int count)
{
	kfi_release("unregister_chrdev_region", _RET_IP_, NULL, "h=%u count=%u", from, count);
	__real_unregister_chrdev_region(from, count);
}
#endif
#ifdef KFI_W_cdev_alloc
struct cdev *__real_cdev_alloc(void);
struct cdev *__wrap_cdev_alloc(void)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "cdev_alloc", "cdev_alloc", _RET_IP_, true);
	struct cdev *c;

	if (n < 0)
		return NULL;
	c = __real_cdev_alloc();
	/* Counted (it can fail) but not tracked: cdev_del or kobject_put frees it. */
	kfi_note(c ? "call" : "fail", n, &s, NULL, "h=%px", c);
	return c;
}
#endif
#ifdef KFI_W_cdev_add
int __real_cdev_add(struct cdev *cdev, dev_t dev, unsigned int count);
int __wrap_cdev_add(struct cdev *cdev, dev_t dev, unsigned int count)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "cdev_add", "cdev_add", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real_cdev_add(cdev, dev, count);
	if (ret < 0)
		kfi_note("fail", n, &s, NULL, "err=%d", ret);
	else
		kfi_note("acquire", n, &s, NULL, "h=%px dev=%u:%u count=%u", cdev, MAJOR(dev),
			 MINOR(dev), count);
	return ret;
}
#endif
#ifdef KFI_W_cdev_device_add
int __real_cdev_device_add(struct cdev *cdev, struct device *dev);
int __wrap_cdev_device_add(struct cdev *cdev, struct device *dev)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "cdev_device_add", "cdev_device_add", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real_cdev_device_add(cdev, dev);
	return kfi_int_done(n, &s, ret, NULL, "h=%px", (unsigned long)cdev);
}
#endif
#ifdef KFI_W_cdev_device_del
void __real_cdev_device_del(struct cdev *cdev, struct device *dev);
void __wrap_cdev_device_del(struct cdev *cdev, struct device *dev)
{
	kfi_release("cdev_device_del", _RET_IP_, NULL, "h=%px", cdev);
	__real_cdev_device_del(cdev, dev);
}
#endif

/* ---- classes, devices, misc devices ------------------------------------ */

#ifdef KFI_W___class_create
struct class *__real___class_create(struct module *owner, const char *name,
				    struct lock_class_key *key);
struct class *__wrap___class_create(struct module *owner, const char *name,
				    struct lock_class_key *key)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "class_create", "class_create", _RET_IP_, true);
	struct class *c;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	c = __real___class_create(owner, name, key);
	kfi_note(kfi_ptr_op(c), n, &s, name, "h=%px", c);
	return c;
}
#endif
#ifdef KFI_W___class_register
int __real___class_register(struct class *cls, struct lock_class_key *key);
int __wrap___class_register(struct class *cls, struct lock_class_key *key)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "class_register", "class_register", _RET_IP_, true);

	if (n < 0)
		return -ENOMEM;
	return kfi_int_done(n, &s, __real___class_register(cls, key), cls->name, "h=%px",
			    (unsigned long)cls);
}
#endif
#ifdef KFI_W_device_create
struct device *__real_device_create(struct class *cls, struct device *parent, dev_t devt,
				    void *drvdata, const char *fmt, ...);
/* A variadic call cannot be forwarded: the name is formatted here, then passed as "%s". */
struct device *__wrap_device_create(struct class *cls, struct device *parent, dev_t devt,
				    void *drvdata, const char *fmt, ...)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "device_create", "device_create", _RET_IP_, true);
	char name[KFI_FMT_MAX];
	struct device *d;
	va_list ap;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	d = __real_device_create(cls, parent, devt, drvdata, "%s", name);
	kfi_note(kfi_ptr_op(d), n, &s, IS_ERR_OR_NULL(d) ? NULL : dev_name(d),
		 "h=%px class=%px devt=%u", d, cls, devt);
	return d;
}
#endif
#ifdef KFI_W_device_destroy
void __real_device_destroy(struct class *cls, dev_t devt);
void __wrap_device_destroy(struct class *cls, dev_t devt)
{
	kfi_release("device_destroy", _RET_IP_, NULL, "class=%px devt=%u", cls, devt);
	__real_device_destroy(cls, devt);
}
#endif
#ifdef KFI_W_misc_register
int __real_misc_register(struct miscdevice *misc);
int __wrap_misc_register(struct miscdevice *misc)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "misc_register", "misc_register", _RET_IP_, true);

	if (n < 0)
		return -ENOMEM;
	return kfi_int_done(n, &s, __real_misc_register(misc), misc->name, "h=%px",
			    (unsigned long)misc);
}
#endif

/* ---- /proc ------------------------------------------------------------- */

static struct proc_dir_entry *kfi_pde(int n, const struct kfi_site *s,
				      struct proc_dir_entry *pde, const char *name,
				      struct proc_dir_entry *parent)
{
	kfi_note(kfi_ptr_op(pde), n, s, name, "h=%px parent=%px", pde, parent);
	return pde;
}

#define KFI_PROC_BEGIN(api)							\
	struct kfi_site s;							\
	int n = kfi_begin(&s, api, "proc", _RET_IP_, true);			\
	if (n < 0)								\
		return NULL

#ifdef KFI_W_proc_create
struct proc_dir_entry *__real_proc_create(const char *name, umode_t mode,
					  struct proc_dir_entry *parent,
					  const struct proc_ops *ops);
struct proc_dir_entry *__wrap_proc_create(const char *name, umode_t mode,
					  struct proc_dir_entry *parent,
					  const struct proc_ops *ops)
{
	KFI_PROC_BEGIN("proc_create");
	return kfi_pde(n, &s, __real_proc_create(name, mode, parent, ops), name, parent);
}
#endif
#ifdef KFI_W_proc_create_data
struct proc_dir_entry *__real_proc_create_data(const char *name, umode_t mode,
					       struct proc_dir_entry *parent,
					       const struct proc_ops *ops, void *data);
struct proc_dir_entry *__wrap_proc_create_data(const char *name, umode_t mode,
					       struct proc_dir_entry *parent,
					       const struct proc_ops *ops, void *data)
{
	KFI_PROC_BEGIN("proc_create_data");
	return kfi_pde(n, &s, __real_proc_create_data(name, mode, parent, ops, data), name,
		       parent);
}
#endif
#ifdef KFI_W_proc_create_single_data
struct proc_dir_entry *__real_proc_create_single_data(const char *name, umode_t mode,
		struct proc_dir_entry *parent, int (*show)(struct seq_file *, void *), void *data);
struct proc_dir_entry *__wrap_proc_create_single_data(const char *name, umode_t mode,
		struct proc_dir_entry *parent, int (*show)(struct seq_file *, void *), void *data)
{
	KFI_PROC_BEGIN("proc_create_single_data");
	return kfi_pde(n, &s, __real_proc_create_single_data(name, mode, parent, show, data),
		       name, parent);
}
#endif
#ifdef KFI_W_proc_create_seq_private
struct proc_dir_entry *__real_proc_create_seq_private(const char *name, umode_t mode,
		struct proc_dir_entry *parent, const struct seq_operations *ops,
		unsigned int state_size, void *data);
struct proc_dir_entry *__wrap_proc_create_seq_private(const char *name, umode_t mode,
		struct proc_dir_entry *parent, const struct seq_operations *ops,
		unsigned int state_size, void *data)
{
	KFI_PROC_BEGIN("proc_create_seq_private");
	return kfi_pde(n, &s,
		       __real_proc_create_seq_private(name, mode, parent, ops, state_size, data),
		       name, parent);
}
#endif
#ifdef KFI_W_proc_mkdir
struct proc_dir_entry *__real_proc_mkdir(const char *name, struct proc_dir_entry *parent);
struct proc_dir_entry *__wrap_proc_mkdir(const char *name, struct proc_dir_entry *parent)
{
	KFI_PROC_BEGIN("proc_mkdir");
	return kfi_pde(n, &s, __real_proc_mkdir(name, parent), name, parent);
}
#endif
#ifdef KFI_W_proc_mkdir_mode
struct proc_dir_entry *__real_proc_mkdir_mode(const char *name, umode_t mode,
					      struct proc_dir_entry *parent);
struct proc_dir_entry *__wrap_proc_mkdir_mode(const char *name, umode_t mode,
					      struct proc_dir_entry *parent)
{
	KFI_PROC_BEGIN("proc_mkdir_mode");
	return kfi_pde(n, &s, __real_proc_mkdir_mode(name, mode, parent), name, parent);
}
#endif
#ifdef KFI_W_proc_mkdir_data
struct proc_dir_entry *__real_proc_mkdir_data(const char *name, umode_t mode,
					      struct proc_dir_entry *parent, void *data);
struct proc_dir_entry *__wrap_proc_mkdir_data(const char *name, umode_t mode,
					      struct proc_dir_entry *parent, void *data)
{
	KFI_PROC_BEGIN("proc_mkdir_data");
	return kfi_pde(n, &s, __real_proc_mkdir_data(name, mode, parent, data), name, parent);
}
#endif
#ifdef KFI_W_proc_symlink
struct proc_dir_entry *__real_proc_symlink(const char *name, struct proc_dir_entry *parent,
					   const char *dest);
struct proc_dir_entry *__wrap_proc_symlink(const char *name, struct proc_dir_entry *parent,
					   const char *dest)
{
	KFI_PROC_BEGIN("proc_symlink");
	return kfi_pde(n, &s, __real_proc_symlink(name, parent, dest), name, parent);
}
#endif
#ifdef KFI_W_remove_proc_entry
void __real_remove_proc_entry(const char *name, struct proc_dir_entry *parent);
void __wrap_remove_proc_entry(const char *name, struct proc_dir_entry *parent)
{
	kfi_release("remove_proc_entry", _RET_IP_, name, "parent=%px", parent);
	__real_remove_proc_entry(name, parent);
}
#endif
#ifdef KFI_W_remove_proc_subtree
int __real_remove_proc_subtree(const char *name, struct proc_dir_entry *parent);
int __wrap_remove_proc_subtree(const char *name, struct proc_dir_entry *parent)
{
	kfi_release("remove_proc_subtree", _RET_IP_, name, "parent=%px", parent);
	return __real_remove_proc_subtree(name, parent);
}
#endif

/* ---- debugfs (its creators return ERR_PTR on failure in 6.1) ------------ */

#ifdef KFI_W_debugfs_create_file
struct dentry *__real_debugfs_create_file(const char *name, umode_t mode, struct dentry *parent,
					  void *data, const struct file_operations *fops);
struct dentry *__wrap_debugfs_create_file(const char *name, umode_t mode, struct dentry *parent,
					  void *data, const struct file_operations *fops)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "debugfs_create_file", "debugfs_create_file", _RET_IP_, true);
	struct dentry *d;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	d = __real_debugfs_create_file(name, mode, parent, data, fops);
	kfi_note(kfi_ptr_op(d), n, &s, name, "h=%px parent=%px", d, parent);
	return d;
}
#endif
#ifdef KFI_W_debugfs_create_dir
struct dentry *__real_debugfs_create_dir(const char *name, struct dentry *parent);
struct dentry *__wrap_debugfs_create_dir(const char *name, struct dentry *parent)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "debugfs_create_dir", "debugfs_create_dir", _RET_IP_, true);
	struct dentry *d;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	d = __real_debugfs_create_dir(name, parent);
	kfi_note(kfi_ptr_op(d), n, &s, name, "h=%px parent=%px", d, parent);
	return d;
}
#endif

/* ---- kernel threads, workqueues ------------------------------------------ */

static struct task_struct *kfi_task_done(int n, const struct kfi_site *s, struct task_struct *t)
{
	kfi_note(kfi_ptr_op(t), n, s, IS_ERR_OR_NULL(t) ? NULL : t->comm, "h=%px", t);
	return t;
}

#ifdef KFI_W_kthread_create_on_node
struct task_struct *__real_kthread_create_on_node(int (*fn)(void *data), void *data, int node,
						  const char *fmt, ...);
struct task_struct *__wrap_kthread_create_on_node(int (*fn)(void *data), void *data, int node,
						  const char *fmt, ...)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kthread_create_on_node", "kthread", _RET_IP_, true);
	char name[KFI_FMT_MAX];
	va_list ap;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	return kfi_task_done(n, &s, __real_kthread_create_on_node(fn, data, node, "%s", name));
}
#endif
#ifdef KFI_W_kthread_create_on_cpu
struct task_struct *__real_kthread_create_on_cpu(int (*fn)(void *data), void *data,
						 unsigned int cpu, const char *namefmt);
struct task_struct *__wrap_kthread_create_on_cpu(int (*fn)(void *data), void *data,
						 unsigned int cpu, const char *namefmt)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kthread_create_on_cpu", "kthread", _RET_IP_, true);

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	return kfi_task_done(n, &s, __real_kthread_create_on_cpu(fn, data, cpu, namefmt));
}
#endif
#ifdef KFI_W_alloc_workqueue
struct workqueue_struct *__real_alloc_workqueue(const char *fmt, unsigned int flags,
						int max_active, ...);
struct workqueue_struct *__wrap_alloc_workqueue(const char *fmt, unsigned int flags,
						int max_active, ...)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "alloc_workqueue", "alloc_workqueue", _RET_IP_, true);
	struct workqueue_struct *w;
	char name[KFI_FMT_MAX];
	va_list ap;

	if (n < 0)
		return NULL;
	va_start(ap, max_active);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	w = __real_alloc_workqueue("%s", flags, max_active, name);
	kfi_note(w ? "acquire" : "fail", n, &s, name, "h=%px", w);
	return w;
}
#endif

/* ---- interrupt lines ------------------------------------------------------ */

#ifdef KFI_W_request_threaded_irq
int __real_request_threaded_irq(unsigned int irq, irq_handler_t handler, irq_handler_t thread_fn,
				unsigned long flags, const char *name, void *dev);
int __wrap_request_threaded_irq(unsigned int irq, irq_handler_t handler, irq_handler_t thread_fn,
				unsigned long flags, const char *name, void *dev)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "request_threaded_irq", "request_irq", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real_request_threaded_irq(irq, handler, thread_fn, flags, name, dev);
	if (ret < 0)
		kfi_note("fail", n, &s, name, "err=%d", ret);
	else /* a line is freed by (irq, dev_id): both are the handle */
		kfi_note("acquire", n, &s, name, "h=%u dev=%px", irq, dev);
	return ret;
}
#endif
#ifdef KFI_W_free_irq
const void *__real_free_irq(unsigned int irq, void *dev);
const void *__wrap_free_irq(unsigned int irq, void *dev)
{
	kfi_release("free_irq", _RET_IP_, NULL, "h=%u dev=%px", irq, dev);
	return __real_free_irq(irq, dev);
}
#endif
#ifdef KFI_W_devm_request_threaded_irq
int __real_devm_request_threaded_irq(struct device *d, unsigned int irq, irq_handler_t handler,
				     irq_handler_t thread_fn, unsigned long flags,
				     const char *name, void *dev);
int __wrap_devm_request_threaded_irq(struct device *d, unsigned int irq, irq_handler_t handler,
				     irq_handler_t thread_fn, unsigned long flags,
				     const char *name, void *dev)
{
	struct kfi_site s;
	/* Released by the driver core when the probe fails or the device goes. */
	int n = kfi_begin(&s, "devm_request_threaded_irq", "devm", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real_devm_request_threaded_irq(d, irq, handler, thread_fn, flags, name, dev);
	/* Released by the device when it goes: counted, not tracked. */
	kfi_note(ret < 0 ? "fail" : "call", n, &s, name, "err=%d", ret);
	return ret;
}
#endif
#ifdef KFI_W_devm_kmalloc
void *__real_devm_kmalloc(struct device *d, size_t size, gfp_t gfp);
void *__wrap_devm_kmalloc(struct device *d, size_t size, gfp_t gfp)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "devm_kmalloc", "devm", _RET_IP_, KFI_MAY(gfp));
	void *p;

	if (n < 0)
		return NULL;
	p = __real_devm_kmalloc(d, size, gfp);
	/* Released by the driver core when the probe fails or the device goes: "call". */
	kfi_note(p ? "call" : "fail", n, &s, NULL, "h=%px size=%zu", p, size);
	return p;
}
#endif

/* ---- kobjects and sysfs ----------------------------------------------------- */

#ifdef KFI_W_kobject_create_and_add
struct kobject *__real_kobject_create_and_add(const char *name, struct kobject *parent);
struct kobject *__wrap_kobject_create_and_add(const char *name, struct kobject *parent)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "kobject_create_and_add", "kobject_create_and_add", _RET_IP_, true);
	struct kobject *k;

	if (n < 0)
		return NULL;
	k = __real_kobject_create_and_add(name, parent);
	kfi_note(k ? "acquire" : "fail", n, &s, name, "h=%px parent=%px", k, parent);
	return k;
}
#endif
#ifdef KFI_W_sysfs_create_file_ns
int __real_sysfs_create_file_ns(struct kobject *kobj, const struct attribute *attr,
				const void *ns);
int __wrap_sysfs_create_file_ns(struct kobject *kobj, const struct attribute *attr,
				const void *ns)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "sysfs_create_file", "sysfs_create_file", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real_sysfs_create_file_ns(kobj, attr, ns);
	if (ret < 0)
		kfi_note("fail", n, &s, attr ? attr->name : NULL, "err=%d", ret);
	else
		kfi_note("acquire", n, &s, attr->name, "h=%px attr=%px", kobj, attr);
	return ret;
}
#endif
#ifdef KFI_W_sysfs_remove_file_ns
void __real_sysfs_remove_file_ns(struct kobject *kobj, const struct attribute *attr,
				 const void *ns);
void __wrap_sysfs_remove_file_ns(struct kobject *kobj, const struct attribute *attr,
				 const void *ns)
{
	kfi_release("sysfs_remove_file", _RET_IP_, NULL, "h=%px attr=%px", kobj, attr);
	__real_sysfs_remove_file_ns(kobj, attr, ns);
}
#endif
#ifdef KFI_W_sysfs_create_group
int __real_sysfs_create_group(struct kobject *kobj, const struct attribute_group *grp);
int __wrap_sysfs_create_group(struct kobject *kobj, const struct attribute_group *grp)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "sysfs_create_group", "sysfs_create_group", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real_sysfs_create_group(kobj, grp);
	if (ret < 0)
		kfi_note("fail", n, &s, NULL, "err=%d", ret);
	else
		kfi_note("acquire", n, &s, grp->name, "h=%px group=%px", kobj, grp);
	return ret;
}
#endif
#ifdef KFI_W_sysfs_remove_group
void __real_sysfs_remove_group(struct kobject *kobj, const struct attribute_group *grp);
void __wrap_sysfs_remove_group(struct kobject *kobj, const struct attribute_group *grp)
{
	kfi_release("sysfs_remove_group", _RET_IP_, NULL, "h=%px group=%px", kobj, grp);
	__real_sysfs_remove_group(kobj, grp);
}
#endif

/* ---- platform devices and drivers ----------------------------------------- */

#ifdef KFI_W_platform_device_register
int __real_platform_device_register(struct platform_device *pdev);
int __wrap_platform_device_register(struct platform_device *pdev)
{
	struct kfi_site s;
	struct kfi_inside saved;
	int n = kfi_begin(&s, "platform_device_register", "platform_device_register", _RET_IP_,
			  true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	kfi_enter(&saved, "platform_device_register");
	ret = __real_platform_device_register(pdev);
	kfi_leave(&saved);
	if (ret < 0)
		kfi_note("fail", n, &s, pdev->name, "err=%d", ret);
	else /* bound: whether a driver's probe took the device */
		kfi_note("acquire", n, &s, pdev->name, "h=%px bound=%d", pdev, !!pdev->dev.driver);
	return ret;
}
#endif
#ifdef KFI_W_platform_device_register_full
struct platform_device *__real_platform_device_register_full(
	const struct platform_device_info *info);
struct platform_device *__wrap_platform_device_register_full(
	const struct platform_device_info *info)
{
	struct kfi_site s;
	struct kfi_inside saved;
	int n = kfi_begin(&s, "platform_device_register_full", "platform_device_register",
			  _RET_IP_, true);
	struct platform_device *p;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	kfi_enter(&saved, "platform_device_register_full");
	p = __real_platform_device_register_full(info);
	kfi_leave(&saved);
	if (IS_ERR_OR_NULL(p))
		kfi_note(kfi_ptr_op(p), n, &s, info->name, "h=%px", p);
	else
		kfi_note("acquire", n, &s, info->name, "h=%px bound=%d", p, !!p->dev.driver);
	return p;
}
#endif
#ifdef KFI_W_platform_device_alloc
struct platform_device *__real_platform_device_alloc(const char *name, int id);
struct platform_device *__wrap_platform_device_alloc(const char *name, int id)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "platform_device_alloc", "platform_device_alloc", _RET_IP_, true);
	struct platform_device *p;

	if (n < 0)
		return NULL;
	p = __real_platform_device_alloc(name, id);
	kfi_note(kfi_ptr_op(p), n, &s, name, "h=%px", p);
	return p;
}
#endif
#ifdef KFI_W_platform_device_add
int __real_platform_device_add(struct platform_device *pdev);
int __wrap_platform_device_add(struct platform_device *pdev)
{
	struct kfi_site s;
	struct kfi_inside saved;
	int n = kfi_begin(&s, "platform_device_add", "platform_device_add", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	kfi_enter(&saved, "platform_device_add");
	ret = __real_platform_device_add(pdev);
	kfi_leave(&saved);
	if (ret < 0)
		kfi_note("fail", n, &s, pdev->name, "err=%d", ret);
	else /* bound: whether a driver's probe took the device */
		kfi_note("acquire", n, &s, pdev->name, "h=%px bound=%d", pdev, !!pdev->dev.driver);
	return ret;
}
#endif
#ifdef KFI_W___platform_driver_register
int __real___platform_driver_register(struct platform_driver *drv, struct module *owner);

static int kfi_count_bound(struct device *dev, void *count)
{
	++*(int *)count;
	return 0;
}

int __wrap___platform_driver_register(struct platform_driver *drv, struct module *owner)
{
	struct kfi_site s;
	struct kfi_inside saved;
	int n = kfi_begin(&s, "platform_driver_register", "platform_driver_register", _RET_IP_,
			  true);
	int ret, bound = 0;

	if (n < 0)
		return -ENOMEM;
	kfi_enter(&saved, "platform_driver_register");
	ret = __real___platform_driver_register(drv, owner);
	kfi_leave(&saved);
	if (ret < 0) {
		kfi_note("fail", n, &s, drv->driver.name, "err=%d", ret);
		return ret;
	}
	/* bound: how many devices the driver's probe took (a failed probe takes none) */
	driver_for_each_device(&drv->driver, NULL, &bound, kfi_count_bound);
	kfi_note("acquire", n, &s, drv->driver.name, "h=%px bound=%d", drv, bound);
	return ret;
}
#endif

/* ---- block devices ----------------------------------------------------------- */

#ifdef KFI_W___register_blkdev
int __real___register_blkdev(unsigned int major, const char *name, void (*probe)(dev_t devt));
int __wrap___register_blkdev(unsigned int major, const char *name, void (*probe)(dev_t devt))
{
	struct kfi_site s;
	int n = kfi_begin(&s, "register_blkdev", "register_blkdev", _RET_IP_, true);
	int ret;

	if (n < 0)
		return -ENOMEM;
	ret = __real___register_blkdev(major, name, probe);
	return kfi_int_done(n, &s, ret, name, "h=%lu", major ? major : ret);
}
#endif
#ifdef KFI_W_unregister_blkdev
void __real_unregister_blkdev(unsigned int major, const char *name);
void __wrap_unregister_blkdev(unsigned int major, const char *name)
{
	kfi_release("unregister_blkdev", _RET_IP_, name, "h=%u", major);
	__real_unregister_blkdev(major, name);
}
#endif
#ifdef KFI_W_blk_mq_alloc_tag_set
int __real_blk_mq_alloc_tag_set(struct blk_mq_tag_set *set);
int __wrap_blk_mq_alloc_tag_set(struct blk_mq_tag_set *set)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "blk_mq_alloc_tag_set", "blk_mq_alloc_tag_set", _RET_IP_, true);

	if (n < 0)
		return -ENOMEM;
	return kfi_int_done(n, &s, __real_blk_mq_alloc_tag_set(set), NULL, "h=%px",
			    (unsigned long)set);
}
#endif
#ifdef KFI_W_blk_mq_init_queue
struct request_queue *__real_blk_mq_init_queue(struct blk_mq_tag_set *set);
struct request_queue *__wrap_blk_mq_init_queue(struct blk_mq_tag_set *set)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "blk_mq_init_queue", "blk_mq_init_queue", _RET_IP_, true);
	struct request_queue *q;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	q = __real_blk_mq_init_queue(set);
	kfi_note(kfi_ptr_op(q), n, &s, NULL, "h=%px", q);
	return q;
}
#endif
#ifdef KFI_W___blk_mq_alloc_disk
struct gendisk *__real___blk_mq_alloc_disk(struct blk_mq_tag_set *set, void *queuedata,
					   struct lock_class_key *lkclass);
struct gendisk *__wrap___blk_mq_alloc_disk(struct blk_mq_tag_set *set, void *queuedata,
					   struct lock_class_key *lkclass)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "blk_mq_alloc_disk", "blk_mq_alloc_disk", _RET_IP_, true);
	struct gendisk *d;

	if (n < 0)
		return ERR_PTR(-ENOMEM);
	d = __real___blk_mq_alloc_disk(set, queuedata, lkclass);
	kfi_note(kfi_ptr_op(d), n, &s, NULL, "h=%px", d);
	return d;
}
#endif
#ifdef KFI_W_device_add_disk
int __real_device_add_disk(struct device *parent, struct gendisk *disk,
			   const struct attribute_group **groups);
int __wrap_device_add_disk(struct device *parent, struct gendisk *disk,
			   const struct attribute_group **groups)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "add_disk", "add_disk", _RET_IP_, true);

	if (n < 0)
		return -ENOMEM;
	return kfi_int_done(n, &s, __real_device_add_disk(parent, disk, groups), disk->disk_name,
			    "h=%px", (unsigned long)disk);
}
#endif

/* ---- network devices ---------------------------------------------------------- */

#ifdef KFI_W_alloc_netdev_mqs
struct net_device *__real_alloc_netdev_mqs(int sizeof_priv, const char *name,
					   unsigned char name_assign_type,
					   void (*setup)(struct net_device *),
					   unsigned int txqs, unsigned int rxqs);
struct net_device *__wrap_alloc_netdev_mqs(int sizeof_priv, const char *name,
					   unsigned char name_assign_type,
					   void (*setup)(struct net_device *),
					   unsigned int txqs, unsigned int rxqs)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "alloc_netdev", "alloc_netdev", _RET_IP_, true);
	struct net_device *d;

	if (n < 0)
		return NULL;
	d = __real_alloc_netdev_mqs(sizeof_priv, name, name_assign_type, setup, txqs, rxqs);
	kfi_note(d ? "acquire" : "fail", n, &s, name, "h=%px", d);
	return d;
}
#endif
#ifdef KFI_W_register_netdev
int __real_register_netdev(struct net_device *dev);
int __wrap_register_netdev(struct net_device *dev)
{
	struct kfi_site s;
	int n = kfi_begin(&s, "register_netdev", "register_netdev", _RET_IP_, true);

	if (n < 0)
		return -ENOMEM;
	return kfi_int_done(n, &s, __real_register_netdev(dev), dev->name, "h=%px",
			    (unsigned long)dev);
}
#endif
