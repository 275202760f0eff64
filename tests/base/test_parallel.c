/* The thread pool: every item runs once, chunks are fixed by the item index
 * (not by the thread count: also when they run one after another in the
 * calling thread), the caller runs a loop's front and the workers its back,
 * element loops cut at whole blocks, nested loops and loops from a second
 * thread run serially, many tiny loops in a row, a loop completes with no
 * worker at all (a child of fork()), and misuse is refused. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/parallel.h"
#include "tests/support.h"

#define MAX_ITEMS 100000

/* Counts how often each item ran and records each chunk's bounds and worker. */
typedef struct {
    _Atomic int max_worker;
    _Atomic int chunks;
    _Atomic int *runs;          /* (n) */
    _Atomic int64_t *chunk_of;  /* (n) begin of the chunk that ran the item */
    _Atomic int64_t *chunk_end; /* (n) */
    _Atomic int *worker_of;     /* (n) the worker that ran the item */
} Record;

static Record *record_new(int64_t n) {
    Record *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->runs = calloc((size_t)n, sizeof *r->runs);
    r->chunk_of = calloc((size_t)n, sizeof *r->chunk_of);
    r->chunk_end = calloc((size_t)n, sizeof *r->chunk_end);
    r->worker_of = calloc((size_t)n, sizeof *r->worker_of);
    ck_assert(r->runs && r->chunk_of && r->chunk_end && r->worker_of);
    return r;
}

/* Items of [0, n) that did not run exactly once (asserting per item would
 * cost a write to Check's pipe each). */
static int64_t record_misses(const Record *r, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += r->runs[i] != 1;
    return bad;
}

static void record_free(Record *r) {
    free(r->runs);
    free(r->chunk_of);
    free(r->chunk_end);
    free(r->worker_of);
    free(r);
}

static void record_chunk(void *ctx, NnChunk c) {
    Record *r = ctx;
    for (int64_t i = c.begin; i < c.end; i++) {
        atomic_fetch_add(&r->runs[i], 1);
        atomic_store(&r->chunk_of[i], c.begin);
        atomic_store(&r->chunk_end[i], c.end);
        atomic_store(&r->worker_of[i], c.worker);
    }
    int w = atomic_load(&r->max_worker);
    while (c.worker > w && !atomic_compare_exchange_weak(&r->max_worker, &w, c.worker)) {
    }
    atomic_fetch_add(&r->chunks, 1);
}

static Record *record_run(int threads, int64_t n, int64_t cost) {
    nn_set_threads(threads);
    Record *r = record_new(n);
    nn_parallel_for(n, cost, record_chunk, r);
    return r;
}

START_TEST(every_item_runs_exactly_once) {
    int before = nn_threads();
    const int64_t sizes[][2] = {{1, 1}, {7, 100000}, {1000, 1}, {1000, 100}, {MAX_ITEMS, 1}, {MAX_ITEMS, 7}, {5, 0}};
    for (int threads = 1; threads <= 4; threads++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            int64_t n = sizes[k][0], cost = sizes[k][1];
            Record *r = record_run(threads, n, cost);
            ck_assert_msg(record_misses(r, n) == 0, "%d threads, n %lld cost %lld: items not run exactly once",
                          threads, (long long)n, (long long)cost);
            ck_assert_int_lt(r->max_worker, nn_parallel_width(n, cost));
            record_free(r);
        }
    nn_set_threads(before);
}
END_TEST

/* Chunks of the same loop run with 1 (in the calling thread, one after
 * another), 2, 3 and 8 threads: the same bounds for every item. */
START_TEST(chunks_are_fixed_by_index_not_by_thread) {
    int before = nn_threads();
    const int64_t n = MAX_ITEMS, cost = 3;
    Record *r[4] = {record_run(1, n, cost), record_run(2, n, cost), record_run(3, n, cost), record_run(8, n, cost)};
    ck_assert_int_gt(r[0]->chunks, 8); /* large enough to be cut */
    for (int k = 1; k < 4; k++) {
        ck_assert_int_eq(r[k]->chunks, r[0]->chunks);
        int64_t moved = 0;
        for (int64_t i = 0; i < n; i++)
            moved += r[k]->chunk_of[i] != r[0]->chunk_of[i] || r[k]->chunk_end[i] != r[0]->chunk_end[i];
        ck_assert_msg(moved == 0, "%lld items in other chunks with run %d", (long long)moved, k);
    }
    for (int k = 0; k < 4; k++) record_free(r[k]);
    nn_set_threads(before);
}
END_TEST

/* The calling thread (worker 0) claims chunks from the front of a loop, the workers from the back, so the
 * items the caller ran are a prefix of the loop (all of it when no worker came) and the workers' the rest:
 * each core keeps the same end of consecutive loops, and with it their rows in its cache. */
START_TEST(the_caller_runs_a_front_the_workers_a_back) {
    int before = nn_threads();
    for (int threads = 2; threads <= 4; threads++)
        for (int rep = 0; rep < 20; rep++) {
            const int64_t n = MAX_ITEMS;
            Record *r = record_run(threads, n, 3);
            int64_t front = 0;
            while (front < n && r->worker_of[front] == 0) front++;
            int64_t strays = 0;
            for (int64_t i = front; i < n; i++) strays += r->worker_of[i] == 0;
            ck_assert_msg(strays == 0, "%d threads: the caller ran items 0..%lld and %lld more past them",
                          threads, (long long)front - 1, (long long)strays);
            record_free(r);
        }
    nn_set_threads(before);
}
END_TEST

/* Element loops start every chunk at a multiple of NN_ELEMENT_BLOCK. */
START_TEST(element_chunks_start_at_whole_blocks) {
    int before = nn_threads();
    nn_set_threads(2);
    const int64_t n = 3 * NN_ELEMENT_BLOCK * 7 + 5;
    Record *r = record_new(n);
    nn_parallel_elements(n, 2, record_chunk, r);
    ck_assert_int_gt(r->chunks, 2);
    int64_t unaligned = 0;
    for (int64_t i = 0; i < n; i++) unaligned += r->chunk_of[i] % NN_ELEMENT_BLOCK != 0;
    ck_assert(record_misses(r, n) == 0 && unaligned == 0);
    record_free(r);
    nn_set_threads(before);
}
END_TEST

START_TEST(small_loops_run_in_the_calling_thread) {
    int before = nn_threads();
    Record *r = record_run(4, 100, NN_PARALLEL_MIN_WORK / 100);
    ck_assert_int_eq(r->chunks, 1);
    ck_assert(r->chunk_of[0] == 0 && r->chunk_end[0] == 100 && r->max_worker == 0);
    ck_assert_int_eq(nn_parallel_width(100, NN_PARALLEL_MIN_WORK / 100), 1);
    ck_assert_int_eq(nn_parallel_width(100, NN_PARALLEL_MIN_WORK), 4);
    record_free(r);
    nn_set_threads(before);
}
END_TEST

/* An outer loop whose items each run an inner loop: the inner loop must run
 * its chunks one after another, in the thread that runs the outer item, as
 * worker 0, cut as it would be at the top level. */
typedef struct {
    _Atomic int64_t sum[64];
    _Atomic int foreign; /* inner chunks that ran in another thread than their loop's caller, or not as worker 0 */
    _Atomic int inner_width_one;
    int top_chunks;           /* chunks of the inner loop run at the top level */
    _Atomic int same_chunks; /* inner loops cut into as many */
} Nested;

typedef struct {
    Nested *nest;
    int64_t outer;
    pthread_t caller;
    int chunks;
} Inner;

static void inner_body(void *ctx, NnChunk c) {
    Inner *in = ctx;
    in->chunks++;
    for (int64_t i = c.begin; i < c.end; i++) atomic_fetch_add(&in->nest->sum[in->outer], i);
    if (c.worker != 0 || !pthread_equal(pthread_self(), in->caller)) atomic_fetch_add(&in->nest->foreign, 1);
}

static void outer_body(void *ctx, NnChunk c) {
    Nested *nest = ctx;
    for (int64_t o = c.begin; o < c.end; o++) {
        Inner in = {nest, o, pthread_self(), 0};
        if (nn_parallel_width(1000, NN_PARALLEL_MIN_WORK) == 1) atomic_fetch_add(&nest->inner_width_one, 1);
        nn_parallel_for(1000, NN_PARALLEL_MIN_WORK, inner_body, &in);
        if (in.chunks == nest->top_chunks) atomic_fetch_add(&nest->same_chunks, 1);
    }
}

START_TEST(a_loop_inside_a_loop_runs_serially) {
    int before = nn_threads();
    Record *top = record_run(3, 1000, NN_PARALLEL_MIN_WORK);
    Nested *nest = calloc(1, sizeof *nest);
    nest->top_chunks = top->chunks;
    ck_assert_int_gt(nest->top_chunks, 1);
    nn_parallel_for(64, NN_PARALLEL_MIN_WORK, outer_body, nest);
    for (int o = 0; o < 64; o++) ck_assert(nest->sum[o] == 999 * 1000 / 2);
    ck_assert_int_eq(nest->foreign, 0);
    ck_assert_int_eq(nest->inner_width_one, 64);
    ck_assert_int_eq(nest->same_chunks, 64);
    record_free(top);
    free(nest);
    nn_set_threads(before);
}
END_TEST

/* y[i] = x[i] + 1 over chunks: a loop as small as a parallel loop gets. */
typedef struct {
    const int64_t *x;
    int64_t *y;
} Step;

static void add_one(void *ctx, NnChunk c) {
    const Step *s = ctx;
    for (int64_t i = c.begin; i < c.end; i++) s->y[i] = s->x[i] + 1;
}

START_TEST(many_tiny_loops_in_a_row) {
    int before = nn_threads();
    nn_set_threads(2);
    enum { N = 4096 };
    int64_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    for (int i = 0; i < N; i++) a[i] = i;
    int loops = test_quick() ? 2000 : 50000, wrong = 0;
    for (int k = 0; k < loops; k++) {
        /* each loop reads what the one before wrote; just above the threshold, so cut into a few chunks */
        Step s = {k % 2 ? b : a, k % 2 ? a : b};
        nn_parallel_for(N, 2 * NN_PARALLEL_MIN_WORK / N + 1, add_one, &s);
        wrong += !(s.y[0] == k + 1 && s.y[N - 1] == N + k && s.y[k % N] == k % N + k + 1);
    }
    ck_assert_int_eq(wrong, 0);
    free(a);
    free(b);
    nn_set_threads(before);
}
END_TEST

/* A second program thread starts loops while the main thread runs its own:
 * whichever finds the pool busy runs serially; both get every item once. */
static void *second_thread(void *arg) {
    int64_t *bad = arg;
    for (int k = 0; k < 200; k++) {
        Record *r = record_new(20000);
        nn_parallel_for(20000, 8, record_chunk, r);
        *bad += record_misses(r, 20000);
        record_free(r);
    }
    return NULL;
}

START_TEST(loops_from_two_program_threads) {
    int before = nn_threads();
    nn_set_threads(2);
    int64_t bad = 0;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, second_thread, &bad), 0);
    for (int k = 0; k < 200; k++) {
        Record *r = record_new(20000);
        nn_parallel_for(20000, 8, record_chunk, r);
        ck_assert(record_misses(r, 20000) == 0);
        record_free(r);
    }
    pthread_join(t, NULL);
    ck_assert(bad == 0);
    nn_set_threads(before);
}
END_TEST

/* In a child of fork() the workers do not exist: a loop never waits for a
 * worker that claims nothing, so the caller runs every chunk and returns. */
START_TEST(a_loop_completes_when_no_worker_ever_runs) {
    int before = nn_threads();
    nn_set_threads(4);
    Record *warm = record_run(4, MAX_ITEMS, 4); /* workers started in this process */
    record_free(warm);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int ok = 1;
        for (int k = 0; k < 20 && ok; k++) {
            Record *r = record_new(MAX_ITEMS);
            nn_parallel_for(MAX_ITEMS, 4, record_chunk, r);
            ok &= record_misses(r, MAX_ITEMS) == 0;
            ok &= r->chunks > 1;
            record_free(r);
        }
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's loops did not all complete");
    nn_set_threads(before);
}
END_TEST

static void set_threads_inside(void *ctx, NnChunk c) {
    (void)ctx, (void)c;
    nn_set_threads(1);
}

static void set_threads_inside_a_loop(void) {
    nn_set_threads(2);
    nn_parallel_for(4, NN_PARALLEL_MIN_WORK, set_threads_inside, NULL);
}

START_TEST(changing_the_thread_count_inside_a_loop_is_refused) {
    char msg[512];
    ck_assert(test_abort_message(set_threads_inside_a_loop, msg, sizeof msg));
    ck_assert_msg(strstr(msg, "nn_set_threads") && strstr(msg, "inside a parallel loop"), "message: %s", msg);
}
END_TEST

static Suite *parallel_suite(void) {
    Suite *s = suite_create("parallel");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_item_runs_exactly_once);
    tcase_add_test(tc, chunks_are_fixed_by_index_not_by_thread);
    tcase_add_test(tc, the_caller_runs_a_front_the_workers_a_back);
    tcase_add_test(tc, element_chunks_start_at_whole_blocks);
    tcase_add_test(tc, small_loops_run_in_the_calling_thread);
    tcase_add_test(tc, a_loop_inside_a_loop_runs_serially);
    tcase_add_test(tc, many_tiny_loops_in_a_row);
    tcase_add_test(tc, loops_from_two_program_threads);
    tcase_add_test(tc, a_loop_completes_when_no_worker_ever_runs);
    if (test_forking()) tcase_add_test(tc, changing_the_thread_count_inside_a_loop_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(parallel_suite)
