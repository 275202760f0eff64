/* The peak resident memory of this process, for reports and benchmarks. */
#ifndef NN_BASE_PEAK_RSS_H
#define NN_BASE_PEAK_RSS_H

/* Peak resident memory in MiB (VmHWM of /proc/self/status), or -1 where that is not available. */
double peak_rss_mib(void);

#endif
