/* base/dist.h over MPI (-DNN_MPI), or a job of one process. The only file
 * that includes <mpi.h>. Messages longer than DIST_MAX_MESSAGE bytes go in
 * pieces, since MPI counts in int. */
#include "base/dist.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define DIST_MAX_MESSAGE ((size_t)1 << 30) /* bytes per MPI call */

static int rank_, size_ = 1;
static uint64_t sent_;

void dist_share(int64_t n, int rank, int size, int64_t *begin, int64_t *end) {
    NN_CHECK(size >= 1 && rank >= 0 && rank < size && n >= 0, "dist_share", "%lld items, rank %d of %d", (long long)n,
             rank, size);
    int64_t base = n / size, extra = n % size;
    *begin = rank * base + (rank < extra ? rank : extra);
    *end = *begin + base + (rank < extra);
}

int dist_rank(void) { return rank_; }
int dist_size(void) { return size_; }
uint64_t dist_bytes_sent(void) { return sent_; }

#ifdef NN_MPI
#include <mpi.h>

int dist_built_with_mpi(void) { return 1; }

void dist_init(int *argc, char ***argv) {
    int provided;
    /* threads of the pool never call MPI: only the main thread talks */
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void dist_finalize(void) { MPI_Finalize(); }

_Noreturn void dist_abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* MPI_Abort does not return; for the compiler */
}

void dist_send(const void *buf, size_t bytes, int to) {
    const char *p = buf;
    sent_ += bytes;
    do {
        size_t n = bytes < DIST_MAX_MESSAGE ? bytes : DIST_MAX_MESSAGE;
        MPI_Send(p, (int)n, MPI_BYTE, to, 0, MPI_COMM_WORLD);
        p += n;
        bytes -= n;
    } while (bytes > 0);
}

void dist_recv(void *buf, size_t bytes, int from) {
    char *p = buf;
    do {
        size_t n = bytes < DIST_MAX_MESSAGE ? bytes : DIST_MAX_MESSAGE;
        MPI_Recv(p, (int)n, MPI_BYTE, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        p += n;
        bytes -= n;
    } while (bytes > 0);
}

void dist_bcast(void *buf, size_t bytes, int root) {
    char *p = buf;
    if (rank_ == root) sent_ += bytes;
    do {
        size_t n = bytes < DIST_MAX_MESSAGE ? bytes : DIST_MAX_MESSAGE;
        MPI_Bcast(p, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
        p += n;
        bytes -= n;
    } while (bytes > 0);
}

void dist_allgather(const void *mine, void *all, const size_t *counts) {
    /* as one broadcast per rank: the parts are small (evaluation ranks), and it needs no int displacements */
    size_t offset = 0;
    for (int r = 0; r < size_; r++) {
        char *part = (char *)all + offset;
        if (r == rank_ && counts[r]) memcpy(part, mine, counts[r]);
        if (counts[r]) dist_bcast(part, counts[r], r);
        offset += counts[r];
    }
}

#else

int dist_built_with_mpi(void) { return 0; }

void dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}

void dist_finalize(void) {}

_Noreturn void dist_abort(int code) { exit(code); }

void dist_send(const void *buf, size_t bytes, int to) {
    (void)buf;
    (void)bytes;
    nn_abort("dist_send", "rank %d does not exist in a build without MPI (make MPI=1)", to);
}

void dist_recv(void *buf, size_t bytes, int from) {
    (void)buf;
    (void)bytes;
    nn_abort("dist_recv", "rank %d does not exist in a build without MPI (make MPI=1)", from);
}

void dist_bcast(void *buf, size_t bytes, int root) {
    (void)buf;
    (void)bytes;
    NN_CHECK(root == 0, "dist_bcast", "rank %d does not exist in a job of one process", root);
}

void dist_allgather(const void *mine, void *all, const size_t *counts) {
    if (counts[0]) memcpy(all, mine, counts[0]);
}

#endif
