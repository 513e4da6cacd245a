#ifndef COUNTER_UTIL_H
#define COUNTER_UTIL_H

int counter_next(void);
void counter_reset(int start);

#endif
