/* Reductions over chosen axes: sum, mean, max.
 *
 * Two layouts cover every case without a copy:
 *  - the last dim is reduced: each output sums its elements in fixed-size
 *    chunks (NN_REDUCE_CHUNK) whose partial sums are added in chunk order;
 *  - the last dim is kept: each output row adds the reduced rows in order.
 * Either way the order of additions is fixed, whatever the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/memory.h"
#include "tensor/kernels.h"
#include "base/parallel.h"
#include "base/simd.h"

typedef struct {
    int n;                          /* number of reduced dims */
    int64_t shape[TENSOR_MAX_DIMS]; /* their sizes, in x's order */
    int64_t stride[TENSOR_MAX_DIMS];
} ReducedDims;

/* Sum (or max) of n elements starting at p with stride s, in a fixed order. */
static double run_reduce(const real *p, int64_t n, int64_t s, ReduceOp op) {
    if (op == REDUCE_MAX) {
        real m = p[0];
        for (int64_t j = 1; j < n; j++)
            if (p[j * s] > m || p[j * s] != p[j * s]) m = p[j * s]; /* a NaN, once met, stays: max propagates NaN as torch's */
        return m;
    }
    if (s == 1) {
        double lane[8] = {0}; /* double lanes: float sums of 4096 terms would lose 5 digits */
        int64_t j = 0;
        for (; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; l++) lane[l] += p[j + l];
        double acc = 0;
        for (int l = 0; l < 8; l++) acc += lane[l];
        for (; j < n; j++) acc += p[j];
        return acc;
    }
    double acc = 0;
    for (int64_t j = 0; j < n; j++) acc += p[j * s];
    return acc;
}

/* Reduces elements [start, start + count) of the reduced index space of one output. */
static double chunk_reduce(const real *base, const ReducedDims *rd, int64_t start, int64_t count, ReduceOp op) {
    int64_t idx[TENSOR_MAX_DIMS], off = 0, rest = start;
    for (int k = rd->n - 1; k >= 0; k--) {
        idx[k] = rest % rd->shape[k];
        rest /= rd->shape[k];
        off += idx[k] * rd->stride[k];
    }
    int last = rd->n - 1;
    double acc = op == REDUCE_MAX ? -INFINITY : 0;
    while (count > 0) {
        int64_t run = rd->shape[last] - idx[last];
        if (run > count) run = count;
        double r = run_reduce(base + off, run, rd->stride[last], op);
        if (op == REDUCE_MAX)
            acc = r > acc || r != r ? r : acc;
        else
            acc += r;
        count -= run;
        /* advance the odometer by run */
        off += run * rd->stride[last];
        idx[last] += run;
        for (int k = last; k > 0 && idx[k] == rd->shape[k]; k--) {
            off -= idx[k] * rd->stride[k];
            idx[k] = 0;
            idx[k - 1]++;
            off += rd->stride[k - 1];
        }
    }
    return acc;
}

typedef struct {
    const Tensor *out, *x;
    const ReducedDims *rd;
    int64_t R, nchunks;
    ReduceOp op;
    double *part; /* (out->numel, nchunks) */
} InnerLoop;

/* part[o * nchunks + c]: chunk c of output o. x's offset for output o follows
 * out's index through x's strides (reduced dims have size 1 in out). */
static void inner_chunks(void *ctx, NnChunk ch) {
    const InnerLoop *l = ctx;
    const Tensor *x = l->x, *out = l->out;
    for (int64_t w = ch.begin; w < ch.end; w++) {
        int64_t o = w / l->nchunks, c = w % l->nchunks;
        int64_t start = c * NN_REDUCE_CHUNK, count = l->R - start < NN_REDUCE_CHUNK ? l->R - start : NN_REDUCE_CHUNK;
        int64_t xo = 0, rest = o;
        for (int d = x->ndim - 1; d >= 0; d--) {
            int64_t n = out->shape[d];
            xo += (rest % n) * x->stride[d];
            rest /= n;
        }
        l->part[w] = count > 0 ? chunk_reduce(x->data + xo, l->rd, start, count, l->op) : 0;
    }
}

static void reduce_inner(Tensor *out, const Tensor *x, const ReducedDims *rd, int64_t R, ReduceOp op, int accumulate) {
    int64_t O = out->numel;
    int64_t nchunks = (R + NN_REDUCE_CHUNK - 1) / NN_REDUCE_CHUNK;
    if (nchunks == 0) nchunks = 1;
    double *part = nn_malloc((size_t)(O * nchunks) * sizeof *part);
    InnerLoop l = {out, x, rd, R, nchunks, op, part};
    nn_parallel_for(O * nchunks, R < NN_REDUCE_CHUNK ? R : NN_REDUCE_CHUNK, inner_chunks, &l);
    for (int64_t o = 0; o < O; o++) {
        double acc = part[o * nchunks];
        for (int64_t c = 1; c < nchunks; c++) {
            double p = part[o * nchunks + c];
            if (op == REDUCE_MAX)
                acc = p > acc || p != p ? p : acc;
            else
                acc += p;
        }
        if (op == REDUCE_MEAN) acc /= (double)R;
        out->data[o] = (real)(accumulate ? out->data[o] + acc : acc);
    }
    free(part);
}

#define COL_BLOCK 32

typedef struct {
    Tensor *out;
    const Tensor *x;
    const ReducedDims *rd;
    int64_t R;
    ReduceOp op;
    int accumulate;
} OuterLoop;

/* acc[j] = the sum of p[r * stride + j] for r = 0 .. R-1 in order, j < nj:
 * one reduced dimension over contiguous columns (a bias's gradient, dy summed
 * over its rows), the odometer and the column stride gone so that the columns
 * run in vectors; each column's sum is the same chain of double additions
 * from 0. */
NN_VECTORIZE static void sum_rows(const real *restrict p, int64_t stride, int64_t R, int64_t nj, double *restrict acc) {
    if (nj == COL_BLOCK) { /* a whole block: its sums in registers, not stored and loaded back at every row */
        double a[COL_BLOCK] = {0};
        for (int64_t r = 0; r < R; r++, p += stride)
            for (int j = 0; j < COL_BLOCK; j++) a[j] += (double)p[j];
        for (int j = 0; j < COL_BLOCK; j++) acc[j] = a[j];
        return;
    }
    for (int64_t j = 0; j < nj; j++) acc[j] = 0;
    for (int64_t r = 0; r < R; r++, p += stride)
        for (int64_t j = 0; j < nj; j++) acc[j] += (double)p[j];
}

/* Blocks of COL_BLOCK columns of one output row, each summing its R reduced rows in order. */
static void outer_blocks(void *ctx, NnChunk ch) {
    const OuterLoop *l = ctx;
    Tensor *out = l->out;
    const Tensor *x = l->x;
    const ReducedDims *rd = l->rd;
    ReduceOp op = l->op;
    int last = x->ndim - 1;
    int64_t inner = x->shape[last], sx = x->stride[last], R = l->R, nblocks = (inner + COL_BLOCK - 1) / COL_BLOCK;
    for (int64_t w = ch.begin; w < ch.end; w++) {
        int64_t row = w / nblocks, j0 = (w % nblocks) * COL_BLOCK;
        int64_t nj = inner - j0 < COL_BLOCK ? inner - j0 : COL_BLOCK;
        int64_t xo = j0 * sx, rest = row;
        for (int d = last - 1; d >= 0; d--) {
            int64_t n = out->shape[d];
            xo += (rest % n) * x->stride[d];
            rest /= n;
        }
        double acc[COL_BLOCK];
        for (int64_t j = 0; j < nj; j++) acc[j] = op == REDUCE_MAX ? -INFINITY : 0;
        int64_t idx[TENSOR_MAX_DIMS] = {0}, off = 0;
        int64_t general = R; /* rows left to the general loop */
        if (op != REDUCE_MAX && rd->n == 1 && sx == 1) {
            sum_rows(x->data + xo, rd->stride[0], R, nj, acc);
            general = 0;
        }
        for (int64_t r = 0; r < general; r++) {
            const real *p = x->data + xo + off;
            if (op == REDUCE_MAX) {
                for (int64_t j = 0; j < nj; j++)
                    if (p[j * sx] > acc[j] || p[j * sx] != p[j * sx]) acc[j] = p[j * sx];
            } else {
                for (int64_t j = 0; j < nj; j++) acc[j] += p[j * sx];
            }
            for (int k = rd->n - 1; k >= 0; k--) { /* odometer */
                off += rd->stride[k];
                if (++idx[k] < rd->shape[k]) break;
                off -= idx[k] * rd->stride[k];
                idx[k] = 0;
            }
        }
        real *po = out->data + row * inner + j0;
        for (int64_t j = 0; j < nj; j++) {
            double v = op == REDUCE_MEAN ? acc[j] / (double)R : acc[j];
            po[j] = (real)(l->accumulate ? po[j] + v : v);
        }
    }
}

static void reduce_outer(Tensor *out, const Tensor *x, const ReducedDims *rd, int64_t R, ReduceOp op, int accumulate) {
    int64_t inner = x->shape[x->ndim - 1], rows = out->numel / inner, nblocks = (inner + COL_BLOCK - 1) / COL_BLOCK;
    OuterLoop l = {out, x, rd, R, op, accumulate};
    nn_parallel_for(rows * nblocks, (inner < COL_BLOCK ? inner : COL_BLOCK) * R, outer_blocks, &l);
}

void tensor_reduce(Tensor *out, const Tensor *x, unsigned axes, ReduceOp op, int accumulate) {
    static const char *names[] = {"sum", "mean", "max"};
    const char *name = names[op];
    NN_CHECK(out->ndim == x->ndim && tensor_is_contiguous(out), name, "output %s must be contiguous with %d dims",
             shape_str(out->ndim, out->shape).s, x->ndim);
    NN_CHECK(!(accumulate && op == REDUCE_MAX), name, "max cannot accumulate");
    ReducedDims rd = {0};
    int64_t R = 1;
    for (int d = 0; d < x->ndim; d++) {
        int reduced = (axes >> d) & 1u;
        int64_t want = reduced ? 1 : x->shape[d];
        NN_CHECK(out->shape[d] == want, name, "output shape %s does not match input %s reduced over axes 0x%x",
                 shape_str(out->ndim, out->shape).s, shape_str(x->ndim, x->shape).s, axes);
        if (reduced && x->shape[d] != 1) {
            rd.shape[rd.n] = x->shape[d];
            rd.stride[rd.n] = x->stride[d];
            rd.n++;
            R *= x->shape[d];
        }
    }
    NN_CHECK(!(op == REDUCE_MAX && R == 0), name, "max over an empty dimension of %s", shape_str(x->ndim, x->shape).s);
    if (out->numel == 0) return;
    if (rd.n == 0) { /* nothing to reduce: a copy (or an add) */
        Tensor o = *out;
        if (accumulate)
            tensor_binary(&o, out, x, BINARY_ADD);
        else
            tensor_copy(&o, x);
        return;
    }
    int last_reduced = x->ndim > 0 && ((axes >> (x->ndim - 1)) & 1u) && x->shape[x->ndim - 1] != 1;
    if (last_reduced || x->ndim == 0)
        reduce_inner(out, x, &rd, R, op, accumulate);
    else
        reduce_outer(out, x, &rd, R, op, accumulate);
}

void tensor_sum_to(Tensor *out, const Tensor *x, int accumulate) {
    int lead = x->ndim - out->ndim;
    NN_CHECK(lead >= 0, "sum_to", "cannot reduce %s to the larger shape %s", shape_str(x->ndim, x->shape).s,
             shape_str(out->ndim, out->shape).s);
    int64_t shape[TENSOR_MAX_DIMS];
    unsigned axes = 0;
    for (int d = 0; d < x->ndim; d++) {
        shape[d] = d < lead ? 1 : out->shape[d - lead];
        NN_CHECK(shape[d] == x->shape[d] || shape[d] == 1, "sum_to", "shape %s does not broadcast to %s",
                 shape_str(out->ndim, out->shape).s, shape_str(x->ndim, x->shape).s);
        if (shape[d] != x->shape[d]) axes |= 1u << d;
    }
    Tensor o = tensor_wrap(out->data, x->ndim, shape);
    tensor_reduce(&o, x, axes, REDUCE_SUM, accumulate);
}
