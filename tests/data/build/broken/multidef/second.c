#include <linux/kernel.h>

int shared_helper(void)
{
	return 2;
}
