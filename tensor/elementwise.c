/* Elementwise kernels: unary ops and binary ops with numpy broadcasting. */
#include <string.h>

#include "base/error.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"
#include "base/simd.h"
#include "base/parallel.h"

const char *unary_op_name(UnaryOp op) {
    static const char *names[] = {"neg",  "exp",  "log",        "sqrt",       "tanh",      "sigmoid",
                                  "relu", "gelu", "add_scalar", "mul_scalar", "pow_scalar"};
    return names[op];
}

const char *binary_op_name(BinaryOp op) {
    static const char *names[] = {"add", "sub", "mul", "div"};
    return names[op];
}

/* Up to three operands iterated together over out's shape: dims of size 1
 * dropped, adjacent dims merged where every operand allows it. */
typedef struct {
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t stride[4][TENSOR_MAX_DIMS]; /* operand k's stride on each dim, 0 if broadcast */
} Iter;

static void iter_init(Iter *it, const Tensor *out, int n, const Tensor *const *ops) {
    int nd = out->ndim, k = 0;
    for (int d = 0; d < nd; d++) {
        if (out->shape[d] == 1) continue;
        it->shape[k] = out->shape[d];
        for (int o = 0; o < n; o++) {
            const Tensor *t = ops[o];
            int td = d - (nd - t->ndim);
            it->stride[o][k] = (td < 0 || t->shape[td] == 1) ? 0 : t->stride[td];
        }
        k++;
    }
    /* Merge dim j into j-1 when, for every operand, stepping j-1 equals a full sweep of j. */
    int m = 0;
    for (int j = 0; j < k; j++) {
        int merge = m > 0;
        for (int o = 0; o < n && merge; o++)
            if (it->stride[o][m - 1] != it->stride[o][j] * it->shape[j]) merge = 0;
        if (merge) {
            it->shape[m - 1] *= it->shape[j];
            for (int o = 0; o < n; o++) it->stride[o][m - 1] = it->stride[o][j];
        } else {
            it->shape[m] = it->shape[j];
            for (int o = 0; o < n; o++) it->stride[o][m] = it->stride[o][j];
            m++;
        }
    }
    if (m == 0) { /* a single element */
        it->shape[0] = 1;
        for (int o = 0; o < n; o++) it->stride[o][0] = 0;
        m = 1;
    }
    it->ndim = m;
}

/* Offset of operand o at the start of row r (all dims but the last). */
static inline int64_t iter_row_offset(const Iter *it, int o, int64_t r) {
    int64_t off = 0;
    for (int d = it->ndim - 2; d >= 0; d--) {
        off += (r % it->shape[d]) * it->stride[o][d];
        r /= it->shape[d];
    }
    return off;
}

/* Loops with the op fixed outside them, so that the compiler vectorizes each. */
#define UNARY_CASE(OP, EXPR)                                                                                           \
    case OP:                                                                                                           \
        for (int64_t j = 0; j < n; j++) {                                                                              \
            real x = px[j * sx];                                                                                       \
            po[j] = EXPR;                                                                                              \
        }                                                                                                              \
        break

NN_VECTORIZE static void unary_row(UnaryOp op, real arg, const real *px, int64_t sx, real *po, int64_t n) {
    switch (op) {
        UNARY_CASE(UNARY_NEG, -x);
        UNARY_CASE(UNARY_EXP, r_exp(x));
        UNARY_CASE(UNARY_LOG, R_LOG(x));
        UNARY_CASE(UNARY_SQRT, R_SQRT(x));
        UNARY_CASE(UNARY_TANH, R_TANH(x));
        UNARY_CASE(UNARY_SIGMOID, r_sigmoid(x));
        UNARY_CASE(UNARY_RELU, x > 0 ? x : 0);
        UNARY_CASE(UNARY_GELU, r_gelu(x));
        UNARY_CASE(UNARY_ADD_SCALAR, x + arg);
        UNARY_CASE(UNARY_MUL_SCALAR, x * arg);
        UNARY_CASE(UNARY_POW_SCALAR, R_POW(x, arg));
    }
}

void tensor_unary(Tensor *out, const Tensor *x, UnaryOp op, real arg) {
    NN_CHECK(tensor_same_shape(out, x), unary_op_name(op), "output shape %s, input shape %s",
             shape_str(out->ndim, out->shape).s, shape_str(x->ndim, x->shape).s);
    NN_CHECK(tensor_is_contiguous(out), unary_op_name(op), "output must be contiguous");
    Iter it;
    const Tensor *ops[1] = {x};
    iter_init(&it, out, 1, ops);
    int64_t inner = it.shape[it.ndim - 1], rows = out->numel / (inner ? inner : 1);
    int64_t sx = it.stride[0][it.ndim - 1];
#pragma omp parallel for schedule(static) if (out->numel > NN_PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) {
        const real *px = x->data + iter_row_offset(&it, 0, r);
        real *po = out->data + r * inner;
        if (sx == 1)
            unary_row(op, arg, px, 1, po, inner); /* a constant stride: the contiguous loop */
        else
            unary_row(op, arg, px, sx, po, inner);
    }
}

/* One row of a binary op; the common stride patterns get loops of their own
 * so that the compiler vectorizes them. */
#define BINARY_LOOP(EXPR)                                                                                              \
    do {                                                                                                               \
        if (so == 1 && sa == 1 && sb == 1)                                                                             \
            for (int64_t j = 0; j < n; j++) {                                                                          \
                real x = pa[j], y = pb[j];                                                                             \
                po[j] = EXPR;                                                                                          \
            }                                                                                                          \
        else if (so == 1 && sa == 1 && sb == 0)                                                                        \
            for (int64_t j = 0; j < n; j++) {                                                                          \
                real x = pa[j], y = pb[0];                                                                             \
                po[j] = EXPR;                                                                                          \
            }                                                                                                          \
        else if (so == 1 && sa == 0 && sb == 1)                                                                        \
            for (int64_t j = 0; j < n; j++) {                                                                          \
                real x = pa[0], y = pb[j];                                                                             \
                po[j] = EXPR;                                                                                          \
            }                                                                                                          \
        else                                                                                                           \
            for (int64_t j = 0; j < n; j++) {                                                                          \
                real x = pa[j * sa], y = pb[j * sb];                                                                   \
                po[j * so] = EXPR;                                                                                     \
            }                                                                                                          \
    } while (0)

NN_VECTORIZE static void binary_row(BinaryOp op, const real *pa, int64_t sa, const real *pb, int64_t sb, real *po,
                                    int64_t so, int64_t n) {
    switch (op) {
    case BINARY_ADD: BINARY_LOOP(x + y); break;
    case BINARY_SUB: BINARY_LOOP(x - y); break;
    case BINARY_MUL: BINARY_LOOP(x * y); break;
    case BINARY_DIV: BINARY_LOOP(x / y); break;
    }
}

void tensor_binary(Tensor *out, const Tensor *a, const Tensor *b, BinaryOp op) {
    int64_t shape[TENSOR_MAX_DIMS];
    int nd = shape_broadcast(binary_op_name(op), a->ndim, a->shape, b->ndim, b->shape, shape);
    NN_CHECK(shape_equal(nd, shape, out->ndim, out->shape), binary_op_name(op),
             "output shape %s, expected the broadcast of %s and %s", shape_str(out->ndim, out->shape).s,
             shape_str(a->ndim, a->shape).s, shape_str(b->ndim, b->shape).s);
    Iter it;
    const Tensor *ops[3] = {a, b, out};
    iter_init(&it, out, 3, ops);
    int last = it.ndim - 1;
    int64_t inner = it.shape[last], rows = out->numel / (inner ? inner : 1);
    int64_t sa = it.stride[0][last], sb = it.stride[1][last], so = it.stride[2][last];
#pragma omp parallel for schedule(static) if (out->numel > NN_PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; r++)
        binary_row(op, a->data + iter_row_offset(&it, 0, r), sa, b->data + iter_row_offset(&it, 1, r), sb,
                   out->data + iter_row_offset(&it, 2, r), so, inner);
}

void tensor_where(Tensor *out, const Tensor *cond, const Tensor *a, const Tensor *b) {
    int64_t ab[TENSOR_MAX_DIMS], shape[TENSOR_MAX_DIMS];
    int nab = shape_broadcast("where", a->ndim, a->shape, b->ndim, b->shape, ab);
    int nd = shape_broadcast("where", cond->ndim, cond->shape, nab, ab, shape);
    NN_CHECK(shape_equal(nd, shape, out->ndim, out->shape), "where", "output shape %s, expected %s",
             shape_str(out->ndim, out->shape).s, shape_str(nd, shape).s);
    Iter it;
    const Tensor *ops[4] = {cond, a, b, out};
    iter_init(&it, out, 4, ops);
    int last = it.ndim - 1;
    int64_t inner = it.shape[last], rows = out->numel / (inner ? inner : 1);
    int64_t sc = it.stride[0][last], sa = it.stride[1][last], sb = it.stride[2][last], so = it.stride[3][last];
#pragma omp parallel for schedule(static) if (out->numel > NN_PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) {
        const real *pc = cond->data + iter_row_offset(&it, 0, r);
        const real *pa = a->data + iter_row_offset(&it, 1, r);
        const real *pb = b->data + iter_row_offset(&it, 2, r);
        real *po = out->data + iter_row_offset(&it, 3, r);
        for (int64_t j = 0; j < inner; j++) po[j * so] = pc[j * sc] != 0 ? pa[j * sa] : pb[j * sb];
    }
}
