#include "tensor/tensor.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/memory.h"
#include "base/parallel.h"

/* ---- shape ---- */

int64_t shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) return 0; /* however large the other sizes */
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, shape[i], &n))
            nn_abort("shape", "shape %s has more elements than an int64_t counts (2^63 - 1): check the sizes",
                     shape_str(ndim, shape).s);
    return n;
}

void shape_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i];
    }
}

int shape_equal(int na, const int64_t *a, int nb, const int64_t *b) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

ShapeStr shape_str(int ndim, const int64_t *shape) {
    ShapeStr out;
    size_t cap = sizeof out.s, n = (size_t)snprintf(out.s, cap, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(out.s + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap) n += (size_t)snprintf(out.s + n, cap - n, ")");
    if (n >= cap) memcpy(out.s + cap - 4, "...", 4); /* cut short: more dims than a tensor holds */
    return out;
}

int shape_broadcast(const char *op, int na, const int64_t *a, int nb, const int64_t *b, int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)];
        int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da != db && da != 1 && db != 1) {
            nn_abort(op, "shapes %s and %s do not broadcast", shape_str(na, a).s, shape_str(nb, b).s);
        }
        out[i] = da == 1 ? db : da;
    }
    return n;
}

int tensor_is_contiguous(const Tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

int tensor_same_shape(const Tensor *a, const Tensor *b) { return shape_equal(a->ndim, a->shape, b->ndim, b->shape); }

int tensor_dim(const char *op, int ndim, int dim) {
    int d = dim < 0 ? dim + ndim : dim;
    NN_CHECK(d >= 0 && d < ndim, op, "dimension %d out of range for a tensor of %d dims", dim, ndim);
    return d;
}


/* ---- creation ---- */

static void header_init(Tensor *t, int ndim, const int64_t *shape) {
    NN_CHECK(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "tensor", "%d dims, at most %d supported", ndim, TENSOR_MAX_DIMS);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        NN_CHECK(shape[i] >= 0, "tensor", "negative size in shape %s", shape_str(ndim, shape).s);
        t->shape[i] = shape[i];
    }
    t->numel = shape_numel(ndim, shape);
    /* the byte count must fit a size_t and an allocation (PTRDIFF_MAX), so that no size wraps around */
    NN_CHECK(t->numel <= (int64_t)(PTRDIFF_MAX / sizeof(real)), "tensor",
             "shape %s has %lld elements of %zu bytes: more than any allocation can hold; check the sizes",
             shape_str(ndim, shape).s, (long long)t->numel, sizeof(real));
    shape_contiguous_strides(ndim, shape, t->stride);
}

Tensor tensor_wrap(real *buf, int ndim, const int64_t *shape) {
    Tensor t;
    header_init(&t, ndim, shape);
    t.data = buf;
    return t;
}

static Tensor *tensor_alloc(int ndim, const int64_t *shape) {
    Tensor *t = nn_malloc(sizeof *t);
    header_init(t, ndim, shape);
    t->data = nn_aligned_alloc((size_t)t->numel * sizeof(real));
    t->flags = TENSOR_OWNS_DATA | TENSOR_OWNS_STRUCT;
    return t;
}

Tensor *tensor_full(int ndim, const int64_t *shape, real value) {
    Tensor *t = tensor_alloc(ndim, shape);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = value;
    return t;
}

Tensor *tensor_zeros(int ndim, const int64_t *shape) {
    Tensor *t = tensor_alloc(ndim, shape);
    memset(t->data, 0, (size_t)t->numel * sizeof(real));
    return t;
}

Tensor *tensor_ones(int ndim, const int64_t *shape) { return tensor_full(ndim, shape, 1); }

Tensor *tensor_from_buffer(int ndim, const int64_t *shape, const real *buf) {
    Tensor *t = tensor_alloc(ndim, shape);
    memcpy(t->data, buf, (size_t)t->numel * sizeof(real));
    return t;
}

Tensor *tensor_uniform(int ndim, const int64_t *shape, real lo, real hi, Rng *rng) {
    Tensor *t = tensor_alloc(ndim, shape);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (real)(lo + (hi - lo) * rng_uniform(rng));
    return t;
}

Tensor *tensor_normal(int ndim, const int64_t *shape, real mean, real std, Rng *rng) {
    Tensor *t = tensor_alloc(ndim, shape);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (real)(mean + std * rng_normal(rng));
    return t;
}

Tensor *tensor_clone(const Tensor *t) {
    tensor_check_live("tensor_clone", t);
    Tensor *c = tensor_alloc(t->ndim, t->shape);
    tensor_copy(c, t);
    return c;
}

void tensor_free(Tensor *t) {
    if (!t) return;
    tensor_free(t->grad);
    free(t->grad_rows);
    if (t->flags & TENSOR_OWNS_DATA) free(t->data);
    if (t->flags & TENSOR_OWNS_STRUCT) free(t);
}

/* ---- views ---- */

static Tensor view_of(const Tensor *t) {
    Tensor v = *t;
    v.flags = 0;
    v.requires_grad = 0;
    v.grad = NULL;
    v.node = NULL;
    v.name = NULL;
    v.grad_rows = NULL;
    return v;
}

Tensor tensor_reshape(const Tensor *t, int ndim, const int64_t *shape) {
    tensor_check_live("reshape", t);
    NN_CHECK(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "reshape", "%d dims, at most %d supported", ndim, TENSOR_MAX_DIMS);
    NN_CHECK(tensor_is_contiguous(t), "reshape", "tensor of shape %s is not contiguous (call contiguous first)",
             shape_str(t->ndim, t->shape).s);
    int64_t sh[TENSOR_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (shape[i] == -1) {
            NN_CHECK(infer < 0, "reshape", "more than one -1 in %s", shape_str(ndim, shape).s);
            infer = i;
        } else {
            NN_CHECK(shape[i] >= 0, "reshape", "negative size in %s", shape_str(ndim, shape).s);
            NN_CHECK(!__builtin_mul_overflow(known, shape[i], &known), "reshape", "cannot view shape %s as %s",
                     shape_str(t->ndim, t->shape).s, shape_str(ndim, shape).s);
        }
    }
    if (infer >= 0) sh[infer] = known ? t->numel / known : 0;
    NN_CHECK(shape_numel(ndim, sh) == t->numel, "reshape", "cannot view shape %s as %s", shape_str(t->ndim, t->shape).s,
             shape_str(ndim, shape).s);
    Tensor v = view_of(t);
    v.ndim = ndim;
    for (int i = 0; i < ndim; i++) v.shape[i] = sh[i];
    shape_contiguous_strides(ndim, sh, v.stride);
    return v;
}

Tensor tensor_permute(const Tensor *t, const int *perm) {
    tensor_check_live("permute", t);
    int seen[TENSOR_MAX_DIMS] = {0};
    Tensor v = view_of(t);
    for (int i = 0; i < t->ndim; i++) {
        NN_CHECK(perm[i] >= 0 && perm[i] < t->ndim && !seen[perm[i]], "permute",
                 "not a permutation of the %d dims of shape %s", t->ndim, shape_str(t->ndim, t->shape).s);
        seen[perm[i]] = 1;
        v.shape[i] = t->shape[perm[i]];
        v.stride[i] = t->stride[perm[i]];
    }
    return v;
}

void tensor_transpose_perm(int ndim, int d0, int d1, int *perm) {
    d0 = tensor_dim("transpose", ndim, d0);
    d1 = tensor_dim("transpose", ndim, d1);
    for (int i = 0; i < ndim; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
}

Tensor tensor_transpose(const Tensor *t, int d0, int d1) {
    int perm[TENSOR_MAX_DIMS];
    tensor_transpose_perm(t->ndim, d0, d1, perm);
    return tensor_permute(t, perm);
}

Tensor tensor_narrow(const Tensor *t, int dim, int64_t start, int64_t length) {
    tensor_check_live("narrow", t);
    dim = tensor_dim("narrow", t->ndim, dim);
    NN_CHECK(start >= 0 && length >= 0 && start <= t->shape[dim] && length <= t->shape[dim] - start, "narrow",
             "start %lld, length %lld out of bounds for dim %d of shape %s (need start + length <= %lld)",
             (long long)start, (long long)length, dim, shape_str(t->ndim, t->shape).s, (long long)t->shape[dim]);
    Tensor v = view_of(t);
    v.data = t->data + start * t->stride[dim];
    v.shape[dim] = length;
    v.numel = shape_numel(v.ndim, v.shape);
    return v;
}

Tensor tensor_expand(const Tensor *t, int ndim, const int64_t *shape) {
    tensor_check_live("expand", t);
    NN_CHECK(ndim >= t->ndim && ndim <= TENSOR_MAX_DIMS, "expand", "cannot expand shape %s to %s",
             shape_str(t->ndim, t->shape).s, shape_str(ndim, shape).s);
    Tensor v = view_of(t);
    int lead = ndim - t->ndim;
    v.ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        int64_t size = i < lead ? 1 : t->shape[i - lead];
        int64_t stride = i < lead ? 0 : t->stride[i - lead];
        NN_CHECK(size == shape[i] || size == 1, "expand", "cannot expand shape %s to %s",
                 shape_str(t->ndim, t->shape).s, shape_str(ndim, shape).s);
        v.shape[i] = shape[i];
        v.stride[i] = size == shape[i] ? stride : 0;
    }
    v.numel = shape_numel(ndim, shape);
    return v;
}

/* ---- copying and access ---- */

void tensor_check_live(const char *op, const Tensor *t) {
    if (t->gen != 0 && !arena_generation_live(t->gen))
        nn_abort(op, "a tensor made by an autograd op was used after graph_reset (or graph_free, or graph_release "
                     "of the scope it was made in) released it: its memory now holds another step's values. Keep only what you copied out before the reset "
                     "(tensor_clone, tensor_to_buffer, or a real read into a variable), or reset after the last use");
}

int64_t tensor_offset_of(const Tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t n = t->shape[d];
        off += (i % n) * t->stride[d];
        i /= n;
    }
    return off;
}

typedef struct {
    Tensor *dst;
    const Tensor *src;
    int64_t inner; /* elements per row of the last dim */
} CopyLoop;

static void copy_rows(void *ctx, NnChunk c) {
    const CopyLoop *l = ctx;
    const Tensor *src = l->src, *dst = l->dst;
    int64_t inner = l->inner;
    int64_t ss = src->ndim ? src->stride[src->ndim - 1] : 0, ds = dst->ndim ? dst->stride[dst->ndim - 1] : 0;
    for (int64_t r = c.begin; r < c.end; r++) {
        const real *s = src->data + tensor_offset_of(src, r * inner);
        real *d = dst->data + tensor_offset_of(dst, r * inner);
        for (int64_t j = 0; j < inner; j++) d[j * ds] = s[j * ss];
    }
}

typedef struct {
    real *dst;
    const real *src;
} FlatCopy;

static void copy_elements(void *ctx, NnChunk c) {
    const FlatCopy *l = ctx;
    memcpy(l->dst + c.begin, l->src + c.begin, (size_t)(c.end - c.begin) * sizeof(real));
}

void tensor_copy(Tensor *dst, const Tensor *src) {
    tensor_check_live("copy", src);
    tensor_check_live("copy", dst);
    NN_CHECK(tensor_same_shape(dst, src), "copy", "shapes %s and %s differ", shape_str(dst->ndim, dst->shape).s,
             shape_str(src->ndim, src->shape).s);
    if (tensor_is_contiguous(dst) && tensor_is_contiguous(src)) {
        size_t bytes = (size_t)src->numel * sizeof(real);
        uintptr_t d = (uintptr_t)dst->data, s = (uintptr_t)src->data;
        if (d + bytes <= s || s + bytes <= d) /* apart: in chunks side by side (a backward's seed of a large output) */
            nn_parallel_elements(src->numel, 1, copy_elements, &(FlatCopy){dst->data, src->data});
        else
            memmove(dst->data, src->data, bytes);
        return;
    }
    /* Walk rows of the last dimension; the outer index is decoded per row. */
    int64_t inner = src->ndim ? src->shape[src->ndim - 1] : 1;
    int64_t rows = inner ? src->numel / inner : 0;
    CopyLoop l = {dst, src, inner};
    nn_parallel_for(rows, inner, copy_rows, &l);
}

void tensor_to_buffer(const Tensor *t, real *buf) {
    tensor_check_live("tensor_to_buffer", t);
    Tensor dst = tensor_wrap(buf, t->ndim, t->shape);
    tensor_copy(&dst, t);
}

void tensor_fill(Tensor *t, real value) {
    tensor_check_live("tensor_fill", t);
    for (int64_t i = 0; i < t->numel; i++) t->data[tensor_offset_of(t, i)] = value;
}

real tensor_get(const Tensor *t, const int64_t *index) {
    tensor_check_live("tensor_get", t);
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        NN_CHECK(index[d] >= 0 && index[d] < t->shape[d], "tensor_get",
                 "index %lld out of range for dim %d of size %lld", (long long)index[d], d, (long long)t->shape[d]);
        off += index[d] * t->stride[d];
    }
    return t->data[off];
}

static void print_rec(const Tensor *t, FILE *f, int dim, int64_t off, int indent) {
    const int64_t edge = 3; /* show this many at each end when summarising */
    int64_t n = t->shape[dim];
    int summarise = n > 2 * edge;
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (summarise && i == edge) {
            fprintf(f, dim == t->ndim - 1 ? "..., " : "...,\n%*s", dim == t->ndim - 1 ? 0 : indent + 1, "");
            i = n - edge;
        }
        int64_t o = off + i * t->stride[dim];
        if (dim == t->ndim - 1)
            fprintf(f, "%.4g", (double)t->data[o]);
        else
            print_rec(t, f, dim + 1, o, indent + 1);
        if (i + 1 < n) {
            if (dim == t->ndim - 1)
                fputs(", ", f);
            else
                fprintf(f, ",\n%*s", indent + 1, "");
        }
    }
    fputc(']', f);
}

void tensor_print(const Tensor *t, FILE *f) {
    tensor_check_live("tensor_print", t);
    fprintf(f, "tensor%s ", shape_str(t->ndim, t->shape).s);
    if (t->ndim == 0)
        fprintf(f, "%.4g", (double)t->data[0]);
    else if (t->numel == 0)
        fputs("[]", f);
    else
        print_rec(t, f, 0, 0, 0);
    fputc('\n', f);
}
