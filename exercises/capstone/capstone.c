// SPDX-License-Identifier: GPL-2.0
/*
 * Stage 7, capstone: write this module from its specification, in this file.
 * The task is README.md; in short, while the module `capstone` is loaded:
 *
 * /proc/kmodlab_counter  mode 0444: each read shows one line "reads: N", N
 *                        counting the reads since the module loaded, this
 *                        one included (the first read shows "reads: 1");
 *                        reads may happen at the same time
 * /dev/kmodlab_greeter   a misc device, mode 0444: reading it gives
 *                        "Hello from kmodlab!\n", then end of file
 *
 * init creates the counter, then the device; if the device fails, it removes
 * the counter and returns a negative errno. It logs "capstone: ready".
 * exit removes both, newest first, and logs "capstone: goodbye after N reads".
 * A GPL license, your name as author, a description.
 *
 * What you need was shown in stages 2 to 7: proc_create() with a struct
 * proc_ops and single_open()/seq_printf(), misc_register() with a struct
 * file_operations whose read uses simple_read_from_buffer(), atomic_t, and
 * the goto ladder of stage 6. The file is empty on purpose: it does not
 * build until you have written the module.
 */
