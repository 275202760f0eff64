/* Threads. The thread count is the one piece of global state besides the
 * no-grad flag. Every kernel gives each output element to exactly one thread
 * and reduces in fixed-size chunks added in chunk order, so results are
 * bit-identical for any thread count. Built with OPENMP=0, all is serial. */
#ifndef NN_BASE_PARALLEL_H
#define NN_BASE_PARALLEL_H

#include <stdint.h>

/* Sets the number of threads kernels use (n >= 1). */
void nn_set_threads(int n);
/* The number of threads kernels use. */
int nn_threads(void);

/* Size of the chunks that reductions split their input into. Fixed, so that
 * the order of additions does not depend on the thread count. */
#define NN_REDUCE_CHUNK 4096

/* When a loop is worth a parallel region. Starting and joining one costs
 * about 1.5 us with two threads (measured on Zen 4), so a loop splits only
 * when its work is several times that. Loops count their work in elements of
 * a one-pass kernel (a product of two tensors: about 0.06 ns an element on
 * one core, in cache) and run `if (work > NN_PARALLEL_MIN_WORK)`. Only speed
 * depends on these numbers: every kernel gives each output element to one
 * thread, so results are the same on either side. */
#define NN_PARALLEL_MIN_WORK 32768
/* What one element of a row kernel (softmax, log-softmax, layer norm and
 * their backwards) counts for: they read each row three times and take an exp
 * or a square root per element (tensor_softmax on rows of 64: 0.9 ns an
 * element against 0.06 for tensor_binary's product; medians of 301 calls on
 * 65536 elements, one thread, Zen 4), so they split at half the elements. */
#define NN_ROW_WORK 2
/* Matrix products count multiply-adds instead: 64 x 64 x 64 of them (this
 * threshold) take 5.5 us on one Zen 4 core and 4 us on two. */
#define NN_PARALLEL_MIN_MACS (1 << 18)

#endif
