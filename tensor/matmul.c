/* Batched matmul over gemm: batch dims broadcast, transposes are strides. */
#include "base/error.h"
#include "tensor/kernels.h"
#include "base/parallel.h"

void tensor_matmul(Tensor *out, const Tensor *a, const Tensor *b, int accumulate) {
    NN_CHECK(a->ndim >= 2 && b->ndim >= 2 && a->shape[a->ndim - 1] == b->shape[b->ndim - 2], "matmul",
             "cannot multiply %s by %s", shape_str(a->ndim, a->shape).s, shape_str(b->ndim, b->shape).s);
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = b->shape[b->ndim - 1];
    int64_t batch[TENSOR_MAX_DIMS], expect[TENSOR_MAX_DIMS];
    int nb = shape_broadcast("matmul", a->ndim - 2, a->shape, b->ndim - 2, b->shape, batch);
    for (int d = 0; d < nb; d++) expect[d] = batch[d];
    expect[nb] = M;
    expect[nb + 1] = N;
    NN_CHECK(shape_equal(nb + 2, expect, out->ndim, out->shape) && tensor_is_contiguous(out), "matmul",
             "output %s, expected contiguous %s for %s @ %s", shape_str(out->ndim, out->shape).s,
             shape_str(nb + 2, expect).s, shape_str(a->ndim, a->shape).s, shape_str(b->ndim, b->shape).s);
    int64_t a_rs = a->stride[a->ndim - 2], a_cs = a->stride[a->ndim - 1];
    int64_t b_rs = b->stride[b->ndim - 2], b_cs = b->stride[b->ndim - 1];
    /* Batch strides of a and b aligned to the broadcast batch shape (0 where broadcast). */
    int64_t sa[TENSOR_MAX_DIMS], sb[TENSOR_MAX_DIMS];
    int64_t nbatch = 1, b_broadcast = 1, a_flat = 1, expect_stride = M * a_rs;
    for (int d = nb - 1; d >= 0; d--) {
        int da = d - (nb - (a->ndim - 2)), db = d - (nb - (b->ndim - 2));
        sa[d] = (da < 0 || a->shape[da] == 1) ? 0 : a->stride[da];
        sb[d] = (db < 0 || b->shape[db] == 1) ? 0 : b->stride[db];
        if (sb[d] != 0 && batch[d] != 1) b_broadcast = 0;
        if (batch[d] != 1) {
            if (sa[d] != expect_stride) a_flat = 0;
            expect_stride *= batch[d];
        }
        nbatch *= batch[d];
    }
    real beta = accumulate ? 1 : 0;
    if (nbatch == 1 || (b_broadcast && a_flat)) {
        /* One product: a's batch and row dims collapse into rows (the Linear case). */
        gemm(nbatch * M, N, K, a->data, a_rs, a_cs, b->data, b_rs, b_cs, beta, out->data, N);
        return;
    }
    /* Many products: threads take whole products when there are enough of them. */
#pragma omp parallel for schedule(static) if (nbatch >= 4 && M * N * K * nbatch > NN_PARALLEL_MIN_MACS)
    for (int64_t i = 0; i < nbatch; i++) {
        int64_t oa = 0, ob = 0, rest = i;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t k = rest % batch[d];
            rest /= batch[d];
            oa += k * sa[d];
            ob += k * sb[d];
        }
        gemm(M, N, K, a->data + oa, a_rs, a_cs, b->data + ob, b_rs, b_cs, beta, out->data + i * M * N, N);
    }
}
