/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the two source files of kmodlab_pair.ko. */
#ifndef KMODLAB_PAIR_H
#define KMODLAB_PAIR_H

int pair_sum(int a, int b);

#endif
