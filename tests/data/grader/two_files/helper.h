/* SPDX-License-Identifier: GPL-2.0 */
#ifndef TWO_FILES_HELPER_H
#define TWO_FILES_HELPER_H
char *two_make_name(const char *base);
void two_drop_name(char *name);
#endif
