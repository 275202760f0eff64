/* The process's place in a distributed job, and the few messages the
 * library's data-parallel code sends (nn/grad_sum.h, models/sasrec/).
 *
 * Built with -DNN_MPI (make MPI=1) these are MPI calls on MPI_COMM_WORLD, and
 * this file's .c is the only one that includes <mpi.h>. Without it the same
 * API describes a job of one process (rank 0 of 1): nothing is sent, and
 * nothing in the default build needs MPI.
 *
 * The rank and the size are process-wide state, as the thread count is: set
 * once by dist_init, read everywhere. Every call here either succeeds or ends
 * the whole job (MPI's default error handler aborts), so a failure never
 * leaves the other ranks waiting. */
#ifndef NN_BASE_DIST_H
#define NN_BASE_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Joins the job (MPI_Init); the rank and size stay 0 and 1 in a build without MPI. Call once, first. */
void dist_init(int *argc, char ***argv);
/* Leaves the job (MPI_Finalize): every rank must call it on success, after its last message. */
void dist_finalize(void);
/* Ends every rank of the job with exit code code (MPI_Abort; exit(code) without MPI). For a
 * failure of one rank: the others may be waiting for it. */
_Noreturn void dist_abort(int code);
/* 1 when built with MPI (make MPI=1), else 0. */
int dist_built_with_mpi(void);
/* This process's rank, 0 .. dist_size() - 1. */
int dist_rank(void);
/* The number of ranks in the job (1 without MPI, or before dist_init). */
int dist_size(void);

/* Sends bytes to rank `to`, returning once buf may be reused. */
void dist_send(const void *buf, size_t bytes, int to);
/* Receives exactly bytes from rank `from`. */
void dist_recv(void *buf, size_t bytes, int from);
/* buf (bytes) on rank root is copied into buf on every rank. */
void dist_bcast(void *buf, size_t bytes, int root);
/* Each rank contributes mine (counts[rank] bytes); all (sum of counts) receives every rank's part in rank
 * order, on every rank. */
void dist_allgather(const void *mine, void *all, const size_t *counts);
/* Bytes this rank has passed to dist_send, and to dist_bcast as its root, since dist_init. */
uint64_t dist_bytes_sent(void);

/* The share [*begin, *end) of n items that rank gets when they are dealt in contiguous blocks to size
 * ranks, the first n % size ranks one more: the same items for the same (n, size), whatever else runs. */
void dist_share(int64_t n, int rank, int size, int64_t *begin, int64_t *end);

#endif
