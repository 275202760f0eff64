/* Softmax and log-softmax over the last dim, one row per thread. */
#include "base/error.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"
#include "base/simd.h"
#include "base/parallel.h"

static void check_rows(const char *op, const Tensor *out, const Tensor *x) {
    NN_CHECK(tensor_same_shape(out, x) && x->ndim >= 1, op, "output %s, input %s", shape_str(out->ndim, out->shape).s,
             shape_str(x->ndim, x->shape).s);
    NN_CHECK(tensor_is_contiguous(out), op, "output must be contiguous");
}

/* One row: po = softmax (or log-softmax) of px[j * s]. */
NN_VECTORIZE static void softmax_row(const real *px, int64_t s, real *po, int64_t n, int take_log) {
    for (int64_t j = 0; j < n; j++) po[j] = px[j * s];
    real m = r_lane_max(po, n);
    for (int64_t j = 0; j < n; j++) po[j] = r_exp(po[j] - m);
    real sum = r_lane_sum(po, n);
    if (take_log) {
        real lse = m + R_LOG(sum);
        for (int64_t j = 0; j < n; j++) po[j] = px[j * s] - lse;
    } else {
        real inv = 1 / sum;
        for (int64_t j = 0; j < n; j++) po[j] *= inv;
    }
}

static void softmax_rows(Tensor *out, const Tensor *x, int take_log) {
    int64_t n = x->shape[x->ndim - 1], rows = n ? x->numel / n : 0, s = x->stride[x->ndim - 1];
#pragma omp parallel for schedule(static) if (x->numel * NN_ROW_WORK > NN_PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; r++)
        softmax_row(x->data + tensor_offset_of(x, r * n), s, out->data + r * n, n, take_log);
}

void tensor_softmax(Tensor *out, const Tensor *x) {
    check_rows("softmax", out, x);
    softmax_rows(out, x, 0);
}

void tensor_log_softmax(Tensor *out, const Tensor *x) {
    check_rows("log_softmax", out, x);
    softmax_rows(out, x, 1);
}
