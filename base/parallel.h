/* Threads. The thread count is the one piece of global state besides the
 * no-grad flag. Every kernel gives each output element to exactly one thread
 * and reduces in fixed-size chunks added in chunk order, so results are
 * bit-identical for any thread count. Built with OPENMP=0, all is serial. */
#ifndef NN_PARALLEL_H
#define NN_PARALLEL_H

#include <stdint.h>

/* Sets the number of threads kernels use (n >= 1). */
void nn_set_threads(int n);
/* The number of threads kernels use. */
int nn_threads(void);

/* Size of the chunks that reductions split their input into. Fixed, so that
 * the order of additions does not depend on the thread count. */
#define NN_REDUCE_CHUNK 4096

#endif
