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

/* Up to four operands iterated together over out's shape: dims of size 1
 * dropped, adjacent dims merged where every operand allows it. The loop runs
 * over pieces: rows of the last dim, cut into blocks of at most ITER_BLOCK
 * elements so that a long contiguous tensor (one row) still splits. */
typedef struct {
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t stride[4][TENSOR_MAX_DIMS]; /* operand k's stride on each dim, 0 if broadcast */
    int64_t block, blocks;              /* elements per piece, pieces per row */
} Iter;

#define ITER_BLOCK 8192

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
    int64_t inner = it->shape[m - 1];
    it->block = inner > ITER_BLOCK ? ITER_BLOCK : inner > 0 ? inner : 1;
    it->blocks = (inner + it->block - 1) / it->block;
}

/* Pieces of the iteration: (rows of the last dim) x blocks. */
static int64_t iter_pieces(const Iter *it, const Tensor *out) {
    int64_t inner = it->shape[it->ndim - 1];
    return inner ? out->numel / inner * it->blocks : 0;
}

/* Where piece w starts: offsets of the first n operands in off; returns its length. */
static inline int64_t iter_piece(const Iter *it, int n, int64_t w, int64_t *off) {
    int64_t r = w / it->blocks, j0 = w % it->blocks * it->block, last = it->ndim - 1;
    for (int o = 0; o < n; o++) off[o] = j0 * it->stride[o][last];
    for (int d = last - 1; d >= 0; d--) {
        for (int o = 0; o < n; o++) off[o] += (r % it->shape[d]) * it->stride[o][d];
        r /= it->shape[d];
    }
    return it->shape[last] - j0 < it->block ? it->shape[last] - j0 : it->block;
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

typedef struct {
    const Iter *it; /* over x, out */
    UnaryOp op;
    real arg;
    const real *x;
    real *out;
} UnaryLoop;

static void unary_pieces(void *ctx, NnChunk c) {
    const UnaryLoop *l = ctx;
    int64_t sx = l->it->stride[0][l->it->ndim - 1], off[2];
    for (int64_t w = c.begin; w < c.end; w++) {
        int64_t n = iter_piece(l->it, 2, w, off);
        if (sx == 1)
            unary_row(l->op, l->arg, l->x + off[0], 1, l->out + off[1], n); /* a constant stride: the contiguous loop */
        else
            unary_row(l->op, l->arg, l->x + off[0], sx, l->out + off[1], n);
    }
}

void tensor_unary(Tensor *out, const Tensor *x, UnaryOp op, real arg) {
    NN_CHECK(tensor_same_shape(out, x), unary_op_name(op), "output shape %s, input shape %s",
             shape_str(out->ndim, out->shape).s, shape_str(x->ndim, x->shape).s);
    NN_CHECK(tensor_is_contiguous(out), unary_op_name(op), "output must be contiguous");
    Iter it;
    const Tensor *ops[2] = {x, out};
    iter_init(&it, out, 2, ops);
    UnaryLoop l = {&it, op, arg, x->data, out->data};
    nn_parallel_for(iter_pieces(&it, out), it.block, unary_pieces, &l);
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

typedef struct {
    const Iter *it; /* over a, b, out */
    BinaryOp op;
    const real *a, *b;
    real *out;
} BinaryLoop;

static void binary_pieces(void *ctx, NnChunk c) {
    const BinaryLoop *l = ctx;
    const Iter *it = l->it;
    int last = it->ndim - 1;
    int64_t off[3];
    for (int64_t w = c.begin; w < c.end; w++) {
        int64_t n = iter_piece(it, 3, w, off);
        binary_row(l->op, l->a + off[0], it->stride[0][last], l->b + off[1], it->stride[1][last], l->out + off[2],
                   it->stride[2][last], n);
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
    BinaryLoop l = {&it, op, a->data, b->data, out->data};
    nn_parallel_for(iter_pieces(&it, out), it.block, binary_pieces, &l);
}

typedef struct {
    const Iter *it;     /* over cond, a, b, out */
    const real *in[3]; /* cond, a, b */
    real *out;
} WhereLoop;

static void where_pieces(void *ctx, NnChunk c) {
    const WhereLoop *l = ctx;
    const Iter *it = l->it;
    int last = it->ndim - 1;
    int64_t sc = it->stride[0][last], sa = it->stride[1][last], sb = it->stride[2][last], so = it->stride[3][last];
    int64_t off[4];
    for (int64_t w = c.begin; w < c.end; w++) {
        int64_t n = iter_piece(it, 4, w, off);
        const real *pc = l->in[0] + off[0], *pa = l->in[1] + off[1], *pb = l->in[2] + off[2];
        real *po = l->out + off[3];
        for (int64_t j = 0; j < n; j++) po[j * so] = pc[j * sc] != 0 ? pa[j * sa] : pb[j * sb];
    }
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
    WhereLoop l = {&it, {cond->data, a->data, b->data}, out->data};
    nn_parallel_for(iter_pieces(&it, out), it.block, where_pieces, &l);
}
