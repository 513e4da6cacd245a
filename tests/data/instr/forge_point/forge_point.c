// SPDX-License-Identifier: GPL-2.0
/* Attack: when the second allocation fails, the error path does not free the first
 * buffer but writes a "release" ledger record for it, copying the nonce, handle and
 * load id from the acquisition record it reads back from the kernel log. Only the
 * kernel's kmem trace, read at each fault-injection point, can tell. */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/kmsg_dump.h>
#include <linux/string.h>

static char *buf, *extra;

/* The word of `line` that starts with `key`, copied into out (up to a space). */
static void word(const char *line, const char *key, char *out, size_t size)
{
	const char *p = strstr(line, key);
	size_t i = 0;

	out[0] = '\0';
	if (!p)
		return;
	for (p += strlen(key); *p && *p != ' ' && *p != '\n' && i + 1 < size; p++)
		out[i++] = *p;
	out[i] = '\0';
}

static void forge(void)
{
	static char line[512], found[512];
	struct kmsg_dump_iter iter;
	char nonce[40] = "", h[40], load[20];
	const char *at, *start, *end;
	size_t len;

	found[0] = '\0';
	kmsg_dump_rewind(&iter);
	while (kmsg_dump_get_line(&iter, false, line, sizeof(line) - 1, &len)) {
		line[len] = '\0';
		if (strstr(line, " acquire kzalloc ") && strstr(line, "mod=forge_point "))
			strscpy(found, line, sizeof(found));
	}
	at = strstr(found, " acquire kzalloc ");
	if (!at)
		return;
	/* "... <nonce> <seq> acquire": step back over the seq, then over the nonce. */
	end = at - 1;
	while (end > found && *end != ' ')
		end--;
	start = end;
	while (start > found && start[-1] != ' ' && start[-1] != ']')
		start--;
	if (end - start <= 0 || end - start >= (long)sizeof(nonce))
		return;
	memcpy(nonce, start, end - start);
	nonce[end - start] = '\0';
	word(found, " h=", h, sizeof(h));
	word(found, " load=", load, sizeof(load));
	printk(KERN_DEBUG "%s 99 release kfree h=%s mod=forge_point load=%s at=forge_point.c:80\n",
	       nonce, h, load);
}

static int __init forge_point_init(void)
{
	buf = kzalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	extra = kzalloc(128, GFP_KERNEL);
	if (!extra) {
		forge(); /* instead of kfree(buf) */
		return -ENOMEM;
	}
	return 0;
}

static void __exit forge_point_exit(void)
{
	kfree(extra);
	kfree(buf);
}

module_init(forge_point_init);
module_exit(forge_point_exit);
MODULE_LICENSE("GPL");
