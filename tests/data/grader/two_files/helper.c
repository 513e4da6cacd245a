// SPDX-License-Identifier: GPL-2.0
/* Fixture: the second file of a two-file module; its calls carry its own name. */
#include <linux/slab.h>
#include <linux/string.h>
#include "helper.h"

char *two_make_name(const char *base)
{
	return kstrdup(base, GFP_KERNEL);
}

void two_drop_name(char *name)
{
	kfree(name);
}
