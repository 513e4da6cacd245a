#include <linux/kernel.h>
#include "util.h"

static int value;

long counter_next(void)
{
	return value++;
}

void counter_reset(int start)
{
	value = start;
}
