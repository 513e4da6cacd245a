/* SPDX-License-Identifier: GPL-2.0 */
#ifndef KEEPER_BUF_H
#define KEEPER_BUF_H

int keeper_buf_get(void);
void keeper_buf_put(void);

#endif
