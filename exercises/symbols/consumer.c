// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 4, symbols: consumer.ko, a module that uses what provider.ko exports.
 * Write it whole, in this file (the task is README.md):
 *
 * - it includes "provider.h", which declares what provider.ko offers;
 * - its init greets "consumer" with provider_greet(), then logs
 *   "consumer: greetings so far: N", N from provider_greetings(),
 *   and returns 0;
 * - its exit logs "consumer: goodbye";
 * - a license that may use GPL-only exports, an author and a description.
 *
 * Loading it makes the kernel resolve those symbols in the provider, which
 * then cannot be removed while the consumer is loaded. As given, the file is
 * empty: the build fails until you write the module (modpost: no license).
 */
