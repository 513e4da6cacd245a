#include <linux/module.h>
#include <linux/no_such_header.h>

MODULE_LICENSE("GPL");
