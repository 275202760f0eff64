/* Threads: a pool of POSIX threads that runs parallel loops.
 *
 * The thread count is global state (docs/design.md lists all of it, under
 * "Threads and determinism"). A parallel loop is cut into chunks fixed by the item index alone (how
 * many items a chunk takes depends on the loop's size and cost, never on the
 * thread count), and threads claim chunks one at a time. Every kernel gives
 * each output element to exactly one item and reduces in fixed-size chunks
 * added in chunk order, so results are bit-identical for any thread count.
 *
 * Made for a machine shared with other work: the calling thread runs chunks
 * too and returns as soon as every chunk is done, so a worker that the system
 * has not scheduled yet never holds the loop up (it simply claims nothing);
 * workers spin for a few microseconds after a loop, then sleep. Built with
 * THREADS=0 (or OPENMP=0), everything runs serially in the calling thread. */
#ifndef NN_BASE_PARALLEL_H
#define NN_BASE_PARALLEL_H

#include <stdint.h>

/* Sets the number of threads kernels use (n >= 1), the caller included. Not
 * from inside a parallel loop. Overrides NN_THREADS. */
void nn_set_threads(int n);
/* The number of threads kernels use. Unless nn_set_threads was called, it is
 * read at first use from the environment variable NN_THREADS (a whole number
 * from 1 to 256; any other value aborts with a message naming it), and is the
 * number of online CPUs when NN_THREADS is unset. Always 1 in a THREADS=0 build. */
int nn_threads(void);

/* One chunk of a parallel loop: items [begin, end), run by thread `worker`
 * (0 is the calling thread; < nn_parallel_width of the loop). */
typedef struct {
    int64_t begin, end;
    int worker;
} NnChunk;

/* The body of a parallel loop. It must compute each item's outputs from the
 * item's index alone: never from `worker` (which may only pick a scratch
 * buffer) or from where the chunk starts or ends. */
typedef void NnLoopFn(void *ctx, NnChunk c);

/* Runs fn over items [0, n), each costing about `cost` work units (below).
 * When n * cost <= NN_PARALLEL_MIN_WORK, as one call fn(ctx, {0, n, 0});
 * otherwise cut into chunks that depend on (n, cost) only, which run in the
 * pool, or one after another in the calling thread with one thread, inside
 * another parallel loop, or while another thread of the program runs one. */
void nn_parallel_for(int64_t n, int64_t cost, NnLoopFn *fn, void *ctx);
/* nn_parallel_for over the elements of arrays: chunks start at multiples of
 * NN_ELEMENT_BLOCK, so that where a loop is cut never moves the seam between
 * a vectorized loop's body and its scalar tail (they may round differently). */
void nn_parallel_elements(int64_t n, int64_t cost, NnLoopFn *fn, void *ctx);
/* How many threads a loop of n items of this cost started here may use: every
 * chunk's worker is below it (size per-thread scratch by it). */
int nn_parallel_width(int64_t n, int64_t cost);

/* Elements per block of nn_parallel_elements' chunks. */
#define NN_ELEMENT_BLOCK 4096

/* Size of the chunks that reductions split their input into. Fixed, so that
 * the order of additions does not depend on the thread count. */
#define NN_REDUCE_CHUNK 4096

/* When a loop is worth running in parallel, counted in work units: elements
 * of a one-pass kernel (a product of two tensors: about 0.06 ns an element on
 * one core, in cache). Only speed depends on these numbers: every kernel
 * gives each output element to one item, so results are the same whichever
 * way a loop runs. Starting a loop in the pool and claiming its chunks costs
 * about 1 us with two threads (bench/parallel), so a loop splits only when
 * its work is several times that. */
#define NN_PARALLEL_MIN_WORK 32768
/* Work per chunk that nn_parallel_for aims at: about 1 us, enough that claiming a
 * chunk (an atomic add) costs little, small enough that threads finish together
 * (a loop just past NN_PARALLEL_MIN_WORK gets three chunks). */
#define NN_CHUNK_WORK 16384
/* What one element of a row kernel (softmax, log-softmax, layer norm and
 * their backwards) counts for: they read each row three times and take an exp
 * or a square root per element (tensor_softmax on rows of 64: 0.9 ns an
 * element against 0.06 for tensor_binary's product; medians of 301 calls on
 * 65536 elements, one thread, Zen 4), so they split at half the elements. */
#define NN_ROW_WORK 2
/* Matrix products count multiply-adds, NN_MACS_PER_WORK to a work unit: a
 * product splits from 64 x 64 x 64 of them (NN_PARALLEL_MIN_MACS), which take
 * 5.5 us on one Zen 4 core and 4 us on two. */
#define NN_MACS_PER_WORK     8
#define NN_PARALLEL_MIN_MACS (NN_PARALLEL_MIN_WORK * NN_MACS_PER_WORK)

#endif
