// SPDX-License-Identifier: GPL-2.0
/* Hostile: embeds a file of the build machine with the assembler's .incbin. */
#include <linux/module.h>

MODULE_LICENSE("GPL");

extern const char stolen_start[], stolen_end[];
asm(".section .rodata\n"
    "stolen_start:\n"
    ".inc" "bin \"/etc/hostname\"\n"
    "stolen_end:\n"
    ".byte 0\n"
    ".previous\n");

static int __init incbin_init(void)
{
	pr_info("incbin: %ld bytes\n", (long)(stolen_end - stolen_start));
	return 0;
}

static void __exit incbin_exit(void)
{
}

module_init(incbin_init);
module_exit(incbin_exit);
