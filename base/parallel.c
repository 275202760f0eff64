/* The thread pool behind nn_parallel_for.
 *
 * One loop runs in the pool at a time. The caller writes the loop's fields
 * and publishes it by storing a new claim word (loop number << 32 | front
 * << 16 | back): the chunks not yet claimed are [front, back). The caller
 * claims the front chunk by a compare-and-swap from (loop, f, b) to (loop,
 * f + 1, b), the workers the back one, from (loop, f, b) to (loop, f, b - 1):
 * a claim made on a stale word (a loop that ended, whose fields may be
 * rewritten) fails, and no chunk runs twice. Each thread taking the same end
 * of every loop keeps rows that one loop wrote in the cache of the core that
 * reads them in the next; when both claimed from the front, consecutive
 * loops' rows fell to either core (a Beauty epoch at 2 threads: 0.69 s
 * then, 0.64 s with the two ends).
 * The caller claims chunks like a worker, then waits only for chunks that
 * were claimed and are not finished: a worker that was asleep or descheduled
 * during the whole loop claimed nothing and costs nothing.
 *
 * Waiting, made for a machine shared with other work: an idle thread spins
 * briefly (PAUSE_NS), then keeps checking between sched_yield() calls, which
 * hand the core to any other runnable thread on it (our caller, or another
 * program), until SPIN_NS, then sleeps on a condition variable; the caller
 * wakes sleepers when it publishes a loop. The caller waits for the last
 * chunks the same way: on a busy machine a worker holding a chunk may have
 * been descheduled, and a sleeping caller frees its core for it.
 *
 * Stalls: if the caller waited much longer for the last chunks than a chunk
 * takes (a worker was descheduled while holding one), loops run in the
 * calling thread alone for a while (SOLO_MIN_NS, doubling on each stall that
 * follows within that while after it ends, up to SOLO_MAX_NS; a stall after
 * a quiet spell starts over at SOLO_MIN_NS), then the pool is tried again:
 * with another busy process on the machine a second thread costs more than
 * it brings, while a lone stall (a virtual CPU paused by its host) is over.
 *
 * Memory order: the claim word, the done count and the sleeper flags are
 * sequentially consistent atomics (the publish/sleep handshakes are Dekker
 * pairs); the loop's fields are relaxed atomics, valid for a claimant because
 * a successful claim proves the loop had not ended while it read them. */
#include "base/parallel.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

#define MAX_THREADS 256
#define MAX_CHUNKS  4096     /* chunks of one loop: the claim word holds 16 bits for next and for count */
#define PAUSE_NS    5000     /* an idle thread spins on `pause` this long */
#define SPIN_NS     200000   /* then yields between checks up to this long, then sleeps */
#define STALL_NS    200000   /* waiting this much longer than a chunk takes is a stall */
#define SOLO_MIN_NS 2000000  /* loops run in the caller alone this long after a stall */
#define SOLO_MAX_NS 200000000

#ifndef NN_NO_THREADS
static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* NN_THREADS when set (a whole number from 1 to MAX_THREADS; anything else is refused), else the online CPUs. */
static int default_threads(void) {
    const char *env = getenv("NN_THREADS");
    if (env) {
        char *end;
        errno = 0;
        long v = strtol(env, &end, 10);
        NN_CHECK(end != env && *end == '\0' && errno == 0 && v >= 1 && v <= MAX_THREADS, "nn_threads",
                 "NN_THREADS is \"%s\": expected a whole number of threads from 1 to %d (unset it to use every "
                 "online CPU)",
                 env, MAX_THREADS);
        return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static int thread_count; /* threads kernels use, caller included; 0 until asked */

#define WORD(loop, front, back) ((uint64_t)(loop) << 32 | (uint64_t)(front) << 16 | (uint64_t)(back))
#define WORD_LOOP(w)            ((uint32_t)((w) >> 32))
#define WORD_FRONT(w)           ((int64_t)(((w) >> 16) & 0xffff))
#define WORD_BACK(w)            ((int64_t)((w)&0xffff))

static struct {
    _Alignas(64) _Atomic uint64_t claim; /* loop number, front, back: chunks [front, back) unclaimed */
    _Atomic(NnLoopFn *) fn;              /* the loop being run: written before its claim word */
    _Atomic(void *) ctx;
    _Atomic int64_t n, per;            /* items, items per chunk */
    _Alignas(64) _Atomic int64_t done; /* chunks of the current loop finished */
    _Atomic int caller_sleeps;         /* the caller waits on `finished` */
    _Alignas(64) _Atomic int sleepers; /* workers waiting on `wake` */
    _Atomic int stop;                  /* workers exit */
    _Atomic int busy;                  /* a loop is running (a second caller runs serially) */
    pthread_mutex_t lock;
    pthread_cond_t wake, finished;
    int started;                      /* workers running: thread_count - 1, or 0 before the first loop */
    int64_t solo_until, solo_ns;      /* caller only: stall back-off */
    pthread_t tid[MAX_THREADS];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .finished = PTHREAD_COND_INITIALIZER};

static _Thread_local int in_loop; /* this thread is running a chunk */

/* One step of an idle thread's wait begun at `start`: 1 to check again, 0 to go to sleep. */
static int idle_step(int64_t start, int *k) {
    if (++*k % 16) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        return 1;
    }
    int64_t waited = now_ns() - start;
    if (waited > PAUSE_NS) sched_yield();
    return waited < SPIN_NS;
}

/* Claims and runs chunks of the loop of claim word w until none is left; returns how many it ran. The
 * caller (worker 0) claims from the front, the other workers from the back: each thread takes the same
 * end of every loop, so that rows one loop wrote are mostly where the next loop reads them (in that
 * core's cache), whatever the chunk sizes of the two loops. */
static int64_t run_chunks(uint64_t w, int worker) {
    uint32_t loop = WORD_LOOP(w);
    int64_t ran = 0;
    int back = worker != 0;
    in_loop = 1;
    while (WORD_FRONT(w) < WORD_BACK(w)) {
        NnLoopFn *fn = atomic_load_explicit(&pool.fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&pool.ctx, memory_order_relaxed);
        int64_t n = atomic_load_explicit(&pool.n, memory_order_relaxed);
        int64_t per = atomic_load_explicit(&pool.per, memory_order_relaxed);
        uint64_t claimed = back ? w - 1 : w + ((uint64_t)1 << 16);
        if (!atomic_compare_exchange_weak(&pool.claim, &w, claimed)) {
            if (WORD_LOOP(w) != loop) break; /* the loop ended: the fields may be another loop's */
            continue;
        }
        int64_t chunk = back ? WORD_BACK(w) - 1 : WORD_FRONT(w), count = (n + per - 1) / per;
        int64_t begin = chunk * per, end = begin + per < n ? begin + per : n;
        fn(ctx, (NnChunk){begin, end, worker});
        ran++;
        if (atomic_fetch_add(&pool.done, 1) + 1 == count && atomic_load(&pool.caller_sleeps)) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.finished);
            pthread_mutex_unlock(&pool.lock);
        }
        w = atomic_load(&pool.claim);
        if (WORD_LOOP(w) != loop) break;
    }
    in_loop = 0;
    return ran;
}

/* A worker waits for a claim word of another loop than `seen` (or for stop). */
static uint64_t wait_for_loop(uint32_t seen) {
    int64_t start = now_ns();
    int k = 0;
    do {
        uint64_t w = atomic_load(&pool.claim);
        if (WORD_LOOP(w) != seen || atomic_load(&pool.stop)) return w;
    } while (idle_step(start, &k));
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);
    uint64_t w;
    while (WORD_LOOP(w = atomic_load(&pool.claim)) == seen && !atomic_load(&pool.stop))
        pthread_cond_wait(&pool.wake, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return w;
}

static void *worker_main(void *arg) {
    int worker = (int)(intptr_t)arg;
    uint32_t seen = WORD_LOOP(atomic_load(&pool.claim));
    for (;;) {
        uint64_t w = wait_for_loop(seen);
        if (atomic_load(&pool.stop)) return NULL;
        seen = WORD_LOOP(w);
        run_chunks(w, worker);
    }
}

static void stop_workers(void) {
    if (pool.started == 0) return;
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.stop, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.started; i++) pthread_join(pool.tid[i], NULL);
    pool.started = 0;
    atomic_store(&pool.stop, 0);
}

static void at_exit(void) {
    if (!atomic_load(&pool.busy)) stop_workers(); /* exit() from inside a loop leaves them be */
}

/* In a child of fork() only the forking thread exists: forget the workers (the
 * caller never waits for a worker that claims nothing, so none is needed). */
static void prepare_fork(void) { pthread_mutex_lock(&pool.lock); }
static void parent_fork(void) { pthread_mutex_unlock(&pool.lock); }
static void child_fork(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.finished, NULL);
    pool.started = 0;
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.caller_sleeps, 0);
    atomic_store(&pool.busy, 0);
}

/* Starts the workers if they are not running: 0 if none could be started. */
static int start_workers(void) {
    static int hooks;
    if (pool.started > 0) return 1;
    if (!hooks) {
        hooks = 1;
        atexit(at_exit);
        pthread_atfork(prepare_fork, parent_fork, child_fork);
    }
    for (int i = 1; i < thread_count; i++) {
        if (pthread_create(&pool.tid[pool.started], NULL, worker_main, (void *)(intptr_t)i) != 0) break;
        pool.started++;
    }
    return pool.started > 0;
}

/* The caller waits until all `count` chunks are done; returns how long it waited. */
static int64_t wait_for_chunks(int64_t count) {
    int64_t start = now_ns();
    int k = 0;
    do {
        if (atomic_load(&pool.done) >= count) return now_ns() - start;
    } while (idle_step(start, &k));
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.caller_sleeps, 1);
    while (atomic_load(&pool.done) < count) pthread_cond_wait(&pool.finished, &pool.lock);
    atomic_store(&pool.caller_sleeps, 0);
    pthread_mutex_unlock(&pool.lock);
    return now_ns() - start;
}

/* Runs the loop in the pool; 0 (nothing ran) if the pool is busy with a loop
 * of another program thread, has no workers, or backs off after a stall. */
static int run_in_pool(int64_t n, int64_t per, NnLoopFn *fn, void *ctx) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&pool.busy, &expected, 1)) return 0;
    int64_t t0 = now_ns();
    if (t0 < pool.solo_until || !start_workers()) {
        atomic_store(&pool.busy, 0);
        return 0;
    }
    int64_t count = (n + per - 1) / per;
    atomic_store_explicit(&pool.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool.n, n, memory_order_relaxed);
    atomic_store_explicit(&pool.per, per, memory_order_relaxed);
    atomic_store(&pool.done, 0);
    uint64_t w = WORD(WORD_LOOP(atomic_load(&pool.claim)) + 1, 0, count);
    atomic_store(&pool.claim, w);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    int64_t mine = run_chunks(w, 0), worked = now_ns() - t0;
    int64_t waited = wait_for_chunks(count);
    /* a stall: the wait far exceeds what one chunk takes the caller. It doubles the time alone when it comes
     * within one such time of the last one's end (the other core stays taken), else the time alone starts
     * over at SOLO_MIN_NS: a lone stall (a virtual CPU the host paused for a few ms) must not cost the
     * hundreds of ms alone that doubling on every stall had grown to */
    if (waited > STALL_NS + 4 * worked / (mine > 0 ? mine : 1)) {
        int again = pool.solo_ns && t0 < pool.solo_until + pool.solo_ns;
        pool.solo_ns = again ? (pool.solo_ns * 2 < SOLO_MAX_NS ? pool.solo_ns * 2 : SOLO_MAX_NS) : SOLO_MIN_NS;
        pool.solo_until = now_ns() + pool.solo_ns;
    }
    atomic_store(&pool.busy, 0);
    return 1;
}
#endif

int nn_threads(void) {
#ifdef NN_NO_THREADS
    return 1;
#else
    if (thread_count == 0) thread_count = default_threads();
    return thread_count;
#endif
}

void nn_set_threads(int n) {
    NN_CHECK(n >= 1, "nn_set_threads", "thread count %d, expected >= 1", n);
#ifndef NN_NO_THREADS
    NN_CHECK(!in_loop, "nn_set_threads", "called from inside a parallel loop");
    if (n > MAX_THREADS) n = MAX_THREADS;
    if (n == thread_count) return;
    stop_workers(); /* started again, n - 1 of them, by the next loop */
    thread_count = n;
    pool.solo_ns = pool.solo_until = 0;
#endif
}

/* Items per chunk of a loop over n items of the given cost: chunks of about
 * NN_CHUNK_WORK, of equal size but for the last, a multiple of `align` items,
 * at most MAX_CHUNKS of them; a function of (n, cost, align) only. */
static int64_t chunk_items(int64_t n, int64_t cost, int64_t align) {
    if (cost < 1) cost = 1;
    int64_t chunks = cost >= NN_CHUNK_WORK ? n : (n * cost + NN_CHUNK_WORK - 1) / NN_CHUNK_WORK;
    chunks = chunks < 1 ? 1 : chunks > MAX_CHUNKS ? MAX_CHUNKS : chunks;
    int64_t per = (n + chunks - 1) / chunks;
    return (per + align - 1) / align * align;
}

/* Whether a loop is cut into chunks at all (else it runs as one call). */
static int splits(int64_t n, int64_t cost) { return n > 1 && n * (cost > 0 ? cost : 1) > NN_PARALLEL_MIN_WORK; }

int nn_parallel_width(int64_t n, int64_t cost) {
#ifdef NN_NO_THREADS
    (void)n, (void)cost;
    return 1;
#else
    return nn_threads() > 1 && !in_loop && splits(n, cost) ? nn_threads() : 1;
#endif
}

/* The loop, cut into the same chunks whether they run in the pool or here. */
static void parallel_for(int64_t n, int64_t cost, int64_t align, NnLoopFn *fn, void *ctx) {
    if (n <= 0) return;
    if (!splits(n, cost)) {
        fn(ctx, (NnChunk){0, n, 0});
        return;
    }
    int64_t per = chunk_items(n, cost, align);
#ifndef NN_NO_THREADS
    if (nn_parallel_width(n, cost) > 1 && run_in_pool(n, per, fn, ctx)) return;
    int prev = in_loop;
    in_loop = 1; /* loops inside these chunks run serially, as they would in the pool */
#endif
    for (int64_t b = 0; b < n; b += per) fn(ctx, (NnChunk){b, b + per < n ? b + per : n, 0});
#ifndef NN_NO_THREADS
    in_loop = prev;
#endif
}

void nn_parallel_for(int64_t n, int64_t cost, NnLoopFn *fn, void *ctx) { parallel_for(n, cost, 1, fn, ctx); }

void nn_parallel_elements(int64_t n, int64_t cost, NnLoopFn *fn, void *ctx) {
    parallel_for(n, cost, NN_ELEMENT_BLOCK, fn, ctx);
}
