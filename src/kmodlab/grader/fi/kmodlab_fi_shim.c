// SPDX-License-Identifier: GPL-2.0
/*
 * kmodlab fault-injection shim: one copy linked into each instrumented
 * module (as kmodlab_fi_<random token>_<i>.c, with the nonce below filled in
 * by kmodlab.grader.instrument).
 *
 * It counts the module's fallible calls, fails the one whose number is the
 * kmodlab_fail_nth parameter, and writes every call, injection, acquisition
 * and release to the kernel log at KERN_DEBUG, one line each:
 *
 *   <nonce> <seq> <op> <api> [n=<call>] [key=value ...] [name=<escaped>]
 *           mod=<module> load=<id> at=<file>:<line>
 *
 * The nonce lives only in this file, whose name is random per build, so the
 * student's sources cannot #include it to print look-alike lines. The
 * student's code never reaches the real APIs through this file: the
 * wrappers are static inlines in kmodlab_fi.h, and this file calls none of
 * the wrapped names, so the force-included macros are inert here.
 */
#include "kmodlab_fi.h"

#include <linux/atomic.h>
#include <linux/ctype.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>

#define KMODLAB_FI_NONCE "@KMODLAB_NONCE@"
/* Names longer than this are cut: records stay short in a 128 KiB log. */
#define KMODLAB_FI_NAME_MAX 64

static unsigned int kmodlab_fail_nth;
/* 0644: the host may also arm it after loading, to fail a call made later. */
module_param(kmodlab_fail_nth, uint, 0644);
MODULE_PARM_DESC(kmodlab_fail_nth, "kmodlab: fail the Nth fallible call (0: never)");

static atomic_t kmodlab_fi_calls = ATOMIC_INIT(0);
static atomic_t kmodlab_fi_seq = ATOMIC_INIT(0);
static u32 kmodlab_fi_load;

/* A random id per load, so records of two loads of one module never pair. */
static u32 kmodlab_fi_load_id(void)
{
	u32 id = READ_ONCE(kmodlab_fi_load);

	if (!id) {
		cmpxchg(&kmodlab_fi_load, 0, get_random_u32() | 1);
		id = READ_ONCE(kmodlab_fi_load);
	}
	return id;
}

/* Names go in one space-free token: anything but [A-Za-z0-9_.:/+-] becomes %XX. */
static void kmodlab_fi_escape(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, taken = 0;

	for (; *s && taken < KMODLAB_FI_NAME_MAX && i + 4 <= size; s++, taken++) {
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

static void kmodlab_fi_line(const char *op, int n, const char *api, const char *file, int line,
			    const char *name, struct va_format *detail)
{
	char esc[KMODLAB_FI_NAME_MAX * 3 + 1];
	char num[16] = "";
	unsigned int seq = atomic_inc_return(&kmodlab_fi_seq);

	if (n > 0)
		snprintf(num, sizeof(num), " n=%d", n);
	if (name)
		kmodlab_fi_escape(esc, sizeof(esc), name);
	/* One printk per record: two calls could be split by another CPU's line. */
	if (detail)
		printk(KERN_DEBUG "%s %u %s %s%s %pV%s%s mod=%s load=%08x at=%s:%d\n",
		       KMODLAB_FI_NONCE, seq, op, api, num, detail, name ? " name=" : "",
		       name ? esc : "", KBUILD_MODNAME, kmodlab_fi_load_id(), file, line);
	else
		printk(KERN_DEBUG "%s %u %s %s%s%s%s mod=%s load=%08x at=%s:%d\n",
		       KMODLAB_FI_NONCE, seq, op, api, num, name ? " name=" : "",
		       name ? esc : "", KBUILD_MODNAME, kmodlab_fi_load_id(), file, line);
}

int kmodlab_fi_begin(const char *api, const char *file, int line, bool may_fail)
{
	int n = atomic_inc_return(&kmodlab_fi_calls);

	if (!may_fail || (unsigned int)n != READ_ONCE(kmodlab_fail_nth))
		return n;
	kmodlab_fi_line("inject", n, api, file, line, NULL, NULL);
	return -n;
}

void kmodlab_fi_note(const char *op, int n, const char *api, const char *file, int line,
		     const char *name, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	kmodlab_fi_line(op, n, api, file, line, name, &vaf);
	va_end(args);
}
