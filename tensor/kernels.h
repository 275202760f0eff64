/* Tensor kernels: compute into a preallocated output, allocate nothing.
 *
 * Inputs may be any views (strides, broadcast dims); outputs must be
 * contiguous unless said otherwise. Each output element is computed by one
 * thread in a fixed order, so results do not depend on the thread count. */
#ifndef NN_TENSOR_KERNELS_H
#define NN_TENSOR_KERNELS_H

#include "tensor/tensor.h"

typedef enum {
    UNARY_NEG,
    UNARY_EXP,
    UNARY_LOG,
    UNARY_SQRT,
    UNARY_TANH,
    UNARY_SIGMOID,
    UNARY_RELU,
    UNARY_GELU, /* exact: x/2 (1 + erf(x/sqrt 2)) */
    UNARY_ADD_SCALAR,
    UNARY_MUL_SCALAR,
    UNARY_POW_SCALAR,
} UnaryOp;

typedef enum { BINARY_ADD, BINARY_SUB, BINARY_MUL, BINARY_DIV } BinaryOp;

typedef enum { REDUCE_SUM, REDUCE_MEAN, REDUCE_MAX } ReduceOp;

/* Name of a unary op ("exp", ...). */
const char *unary_op_name(UnaryOp op);
/* Name of a binary op ("add", ...). */
const char *binary_op_name(BinaryOp op);

/* out = op(x) elementwise; arg is the scalar of the *_SCALAR ops. out and x have one shape. */
void tensor_unary(Tensor *out, const Tensor *x, UnaryOp op, real arg);
/* out = a op b with numpy broadcasting; out has the broadcast shape. */
void tensor_binary(Tensor *out, const Tensor *a, const Tensor *b, BinaryOp op);
/* out = cond != 0 ? a : b with numpy broadcasting of all three; out has the broadcast shape. */
void tensor_where(Tensor *out, const Tensor *cond, const Tensor *a, const Tensor *b);
/* out (+)= x reduced over the dims whose bit is set in axes. out has x's ndim
 * with size 1 on reduced dims. With accumulate, the result is added to out. */
void tensor_reduce(Tensor *out, const Tensor *x, unsigned axes, ReduceOp op, int accumulate);
/* out (+)= sum of x over the dims x has beyond out's shape (prepended or size 1):
 * undoes broadcasting. out is contiguous; x broadcasts from out's shape. */
void tensor_sum_to(Tensor *out, const Tensor *x, int accumulate);
/* out = softmax(x) over the last dim. */
void tensor_softmax(Tensor *out, const Tensor *x);
/* out = log_softmax(x) over the last dim. */
void tensor_log_softmax(Tensor *out, const Tensor *x);
/* out (+)= a @ b. a (..., M, K), b (..., K, N), batch dims broadcast; out
 * (..., M, N) contiguous. Transposed operands are views: no copy is made. */
void tensor_matmul(Tensor *out, const Tensor *a, const Tensor *b, int accumulate);

/* C (M, N) = A (M, K) B (K, N) + beta C, where A(i, k) = A[i*a_rs + k*a_cs],
 * B(k, j) = B[k*b_rs + j*b_cs], C(i, j) = C[i*ldc + j]; beta is 0 or 1.
 * A and B may have any strides (transposed views need no copy); K = 0 gives
 * beta C; with beta 0 the old C is never read. Large products use
 * nn_threads() threads, calls from inside a parallel region run serially,
 * and the result is bit-identical for any thread count (tensor/gemm.c). */
void gemm(int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs,
          int64_t b_cs, real beta, real *C, int64_t ldc);

#endif
