// SPDX-License-Identifier: GPL-2.0
/* keeper's buffer, in an object of its own. */
#include <linux/slab.h>
#include "keeper_buf.h"

static char *keeper_buf;

int keeper_buf_get(void)
{
	keeper_buf = kmalloc(64, GFP_KERNEL);
	return keeper_buf ? 0 : -ENOMEM;
}

void keeper_buf_put(void)
{
	kfree(keeper_buf);
}
