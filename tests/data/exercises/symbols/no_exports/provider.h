/* SPDX-License-Identifier: GPL-2.0 */
/* What provider.ko offers to other modules: include this from consumer.c. */
#ifndef KMODLAB_PROVIDER_H
#define KMODLAB_PROVIDER_H

/* Logs "provider: hello, <who>" and counts the greeting. GPL modules only. */
void provider_greet(const char *who);

/* How many greetings provider_greet() has sent since the provider loaded. */
unsigned int provider_greetings(void);

#endif /* KMODLAB_PROVIDER_H */
