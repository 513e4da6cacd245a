#define IRQ_LINE 49 /* rewritten by the test */
