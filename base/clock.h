/* Timing: a monotonic clock and the median of repeated timings. */
#ifndef NN_BASE_CLOCK_H
#define NN_BASE_CLOCK_H

/* Seconds on a monotonic clock (from an arbitrary origin: subtract two readings). */
double clock_seconds(void);
/* The median of v[0..n) (the mean of the two middle values when n is even; 0 when n is 0); sorts v. */
double clock_median(double *v, int n);

#endif
