// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 2b, kbuild: the second source file of kmodlab_pair.ko. It has no
 * init and no exit: it is not a module of its own, only a part of one.
 */
#include "pair.h"

int pair_sum(int a, int b)
{
	return a + b;
}
