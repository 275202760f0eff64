/* Data-parallel gradients: a module's gradients packed parameter by
 * parameter, summed in a fixed order, and summed across the ranks of an MPI
 * job (base/dist.h) so that the result does not depend on how many ranks
 * there are.
 *
 * A GradSum holds one part per parameter of a Module, in registration order:
 * nothing (no gradient), the dense gradient (numel values), or, for a leaf
 * with row-sparse gradients (tensor_set_sparse_grad) whose rows are listed,
 * those rows only (ascending ids and their values). Adding x to s is the left
 * fold s = s + x, part by part: rows present in both are added, rows of one
 * side are kept (0 + x for a row only x has). So for contributions g_0, g_1,
 * ..., g_{K-1} the sum is ((g_0 + g_1) + g_2) + ... whichever process holds
 * which g_k.
 *
 * grad_sum_chain runs that fold across ranks as an ordered chain: rank r
 * receives the running sum of ranks 0..r-1 from r - 1, adds its own
 * contributions in order and passes the sum on, in chunks of whole parameters
 * of about 1 MiB (so rank r + 1 adds one chunk while r sends the next); the
 * last rank broadcasts the total. Contributions dealt to ranks in contiguous blocks thus
 * sum bit for bit as in one process, for any rank count. A sparse part goes
 * as its rows, never as the dense table. */
#ifndef NN_NN_GRAD_SUM_H
#define NN_NN_GRAD_SUM_H

#include "nn/module.h"

typedef enum {
    GRAD_NONE,  /* no contribution had a gradient for this parameter */
    GRAD_DENSE, /* values (numel) */
    GRAD_ROWS,  /* rows (n_rows) ascending, values (n_rows, width) */
} GradPartKind;

typedef struct {
    GradPartKind kind;
    int64_t numel, width; /* the parameter's elements; elements per row of dim 0 */
    int64_t n_rows;       /* GRAD_ROWS: rows listed */
    int64_t *rows;        /* (n_rows) GRAD_ROWS, owned */
    real *values;         /* (numel) dense or (n_rows, width) rows, owned */
    int64_t cap;          /* values allocated */
} GradPart;

typedef struct {
    int n_params;
    GradPart *part; /* (n_params) in the module's registration order */
    double loss;    /* a scalar folded alongside in the same order (a step's loss), 0 when empty */
} GradSum;

/* An empty sum shaped for m's parameters (no part has a contribution yet). */
void grad_sum_init(GradSum *s, const Module *m);
/* Frees the parts. */
void grad_sum_free(GradSum *s);
/* Empties s again (its buffers are kept for reuse). */
void grad_sum_clear(GradSum *s);
/* s = s + (m's current gradients, loss): listed rows for row-sparse leaves, dense otherwise. */
void grad_sum_add_module(GradSum *s, Module *m, double loss);
/* s = s + x, part by part (x shaped for the same module). */
void grad_sum_add(GradSum *s, const GradSum *x);
/* Writes s into m's gradients: zeroes them (module_zero_grad), then the dense parts whole and the row parts
 * into their rows, which become the gradient's listed rows (ag_grad_rows). A GRAD_NONE part leaves its
 * parameter without a gradient change (zero). */
void grad_sum_to_module(const GradSum *s, Module *m);

/* The bytes of part i as grad_sum_pack writes it. */
size_t grad_sum_part_bytes(const GradSum *s, int i);
/* Packs part i into buf (grad_sum_part_bytes(s, i) bytes): kind, rows, values. */
void grad_sum_pack(const GradSum *s, int i, void *buf);
/* Replaces part i of s by the one packed in buf (bytes long, from a sum shaped for the same module). */
void grad_sum_unpack(GradSum *s, int i, const void *buf, size_t bytes);

/* Every rank calls it with its contributions mine[0..n_mine) (n_mine may differ between ranks, 0 too):
 * total becomes, on every rank, the left fold of all contributions of rank 0 in order, then rank 1's, ...
 * (the ordered chain above). total must be initialised for the same module; its old contents are dropped.
 * In a job of one process it is the fold of mine. */
void grad_sum_chain(GradSum *total, const GradSum *mine, int n_mine);
/* The allreduce of a module's gradients: every rank's current gradients summed in rank order
 * (grad_sum_chain with one contribution each) and written back into m on every rank. Allocates its
 * scratch per call; a training loop that calls it every step can keep two GradSums and call
 * grad_sum_chain itself. */
void module_allreduce_grads(Module *m);

#endif
