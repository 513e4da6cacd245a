/*
 * Prints the host's TSC frequency in kHz. Under software emulation (TCG) the
 * guest's TSC is the host's, read by RDTSC; the guest needs its frequency
 * because the microvm machine has no timer (HPET, PM timer) to calibrate it.
 * Median of five 40 ms windows against CLOCK_MONOTONIC_RAW.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_RAW, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	double khz[5];
	for (int i = 0; i < 5; i++) {
		double t0 = now_ns();
		unsigned long long c0 = __rdtsc();
		struct timespec pause = {0, 40 * 1000 * 1000};
		nanosleep(&pause, NULL);
		double t1 = now_ns();
		unsigned long long c1 = __rdtsc();
		khz[i] = (c1 - c0) / (t1 - t0) * 1e6;
	}
	qsort(khz, 5, sizeof(khz[0]), cmp);
	printf("%.0f\n", khz[2]);
	return 0;
}
