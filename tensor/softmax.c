/* Softmax and log-softmax over the last dim, one row per thread. */
#include "tensor/error.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"

static void check_rows(const char *op, const Tensor *out, const Tensor *x) {
    char s1[128], s2[128];
    NN_CHECK(tensor_same_shape(out, x) && x->ndim >= 1, op, "output %s, input %s",
             shape_str(out->ndim, out->shape, s1, sizeof s1), shape_str(x->ndim, x->shape, s2, sizeof s2));
    NN_CHECK(tensor_is_contiguous(out), op, "output must be contiguous");
}

static void softmax_rows(Tensor *out, const Tensor *x, int take_log) {
    int64_t n = x->shape[x->ndim - 1], rows = n ? x->numel / n : 0, s = x->stride[x->ndim - 1];
#pragma omp parallel for schedule(static) if (x->numel > 16384)
    for (int64_t r = 0; r < rows; r++) {
        const real *px = x->data + tensor_offset_of(x, r * n);
        real *po = out->data + r * n;
        real m = px[0];
        for (int64_t j = 1; j < n; j++)
            if (px[j * s] > m) m = px[j * s];
        real sum = 0;
        for (int64_t j = 0; j < n; j++) {
            po[j] = r_exp(px[j * s] - m);
            sum += po[j];
        }
        if (take_log) {
            real lse = m + R_LOG(sum);
            for (int64_t j = 0; j < n; j++) po[j] = px[j * s] - lse;
        } else {
            real inv = 1 / sum;
            for (int64_t j = 0; j < n; j++) po[j] *= inv;
        }
    }
}

void tensor_softmax(Tensor *out, const Tensor *x) {
    check_rows("softmax", out, x);
    softmax_rows(out, x, 0);
}

void tensor_log_softmax(Tensor *out, const Tensor *x) {
    check_rows("log_softmax", out, x);
    softmax_rows(out, x, 1);
}
