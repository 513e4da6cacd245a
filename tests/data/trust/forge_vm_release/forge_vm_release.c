// SPDX-License-Identifier: GPL-2.0
/*
 * Attack (tests/vm/test_trust_corpus.py): the error path keeps the page and
 * the vmalloc'd buffer, and writes their releases into the grader's ledger
 * instead. A module can read all of its own memory: it finds the ledger's
 * nonce (a 16-digit hex string) and the shim's load id and record counter
 * (through its own symbol table), and logs records in the shim's format.
 * Slab allocations have the kmem trace as their witness; pages have the page
 * probes, vmalloc areas /proc/vmallocinfo.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/gfp.h>
#include <linux/ctype.h>

static void *table;
static unsigned long page;
static char *name;

static void *fvr_own_symbol(const char *sym)
{
	struct mod_kallsyms *ks;
	void *found = NULL;
	unsigned int i;

	preempt_disable();
	ks = rcu_dereference_sched(THIS_MODULE->kallsyms);
	for (i = 0; ks && i < ks->num_symtab; i++) {
		if (!strcmp(ks->strtab + ks->symtab[i].st_name, sym)) {
			found = (void *)ks->symtab[i].st_value;
			break;
		}
	}
	preempt_enable();
	return found;
}

/* The first NUL-bounded string of 16 lowercase hex digits in the module's memory. */
static const char *fvr_nonce(void)
{
	const char *base = THIS_MODULE->core_layout.base;
	const char *p;
	int i;

	for (p = base + 1; p + 17 < base + THIS_MODULE->core_layout.size; p++) {
		if (p[-1])
			continue;
		for (i = 0; i < 16 && (isdigit(p[i]) || (p[i] >= 'a' && p[i] <= 'f')); i++)
			;
		if (i == 16 && !p[16])
			return p;
	}
	return NULL;
}

/* "Released", as far as the ledger knows; the memory is kept. */
static void fvr_pretend_free(const char *api, const void *p, int line)
{
	const char *nonce = fvr_nonce();
	atomic_t *seq = fvr_own_symbol("kfi_seq");
	u32 *load = fvr_own_symbol("kfi_load");

	if (nonce && seq && load)
		printk(KERN_DEBUG "%s %u release %s h=%px mod=%s load=%08x at=%s:%d\n", nonce,
		       atomic_inc_return(seq), api, p, KBUILD_MODNAME, READ_ONCE(*load),
		       "forge_vm_release.c", line);
}

static int __init fvr_init(void)
{
	table = vmalloc(8192);
	if (!table)
		return -ENOMEM;
	page = __get_free_page(GFP_KERNEL);
	if (!page)
		goto free_table;
	name = kmalloc(32, GFP_KERNEL);
	if (!name)
		goto free_page;
	return 0;
free_page:
	fvr_pretend_free("free_pages", (void *)page, __LINE__);
free_table:
	fvr_pretend_free("vfree", table, __LINE__);
	return -ENOMEM;
}

static void __exit fvr_exit(void)
{
	kfree(name);
	free_page(page);
	vfree(table);
}

module_init(fvr_init);
module_exit(fvr_exit);
MODULE_LICENSE("GPL");
