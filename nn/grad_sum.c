/* Gradient sums in a fixed order, within a process and along the chain of
 * ranks (nn/grad_sum.h). */
#include "nn/grad_sum.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/op.h"
#include "base/dist.h"
#include "base/error.h"
#include "base/memory.h"

void grad_sum_init(GradSum *s, const Module *m) {
    memset(s, 0, sizeof *s);
    s->n_params = m->n_params;
    s->part = nn_calloc((size_t)(m->n_params ? m->n_params : 1), sizeof *s->part);
    for (int i = 0; i < m->n_params; i++) {
        const Tensor *p = m->params[i].value;
        s->part[i].numel = p->numel;
        s->part[i].width = p->ndim ? p->numel / (p->shape[0] ? p->shape[0] : 1) : 1;
    }
}

void grad_sum_free(GradSum *s) {
    for (int i = 0; i < s->n_params; i++) {
        free(s->part[i].rows);
        free(s->part[i].values);
    }
    free(s->part);
    memset(s, 0, sizeof *s);
}

void grad_sum_clear(GradSum *s) {
    for (int i = 0; i < s->n_params; i++) s->part[i].kind = GRAD_NONE;
    s->loss = 0;
}

/* Room for n values in part p, and for every row id when need_rows; contents are not kept. */
static void reserve(GradPart *p, int64_t n, int need_rows) {
    if (n > p->cap) {
        free(p->values);
        p->values = nn_malloc((size_t)n * sizeof *p->values);
        p->cap = n;
    }
    if (need_rows && !p->rows) p->rows = nn_malloc((size_t)(p->numel / p->width + 1) * sizeof *p->rows);
}

/* p = the dense (rows NULL) or row-sparse contribution given. */
static void part_set(GradPart *p, const real *values, const int64_t *rows, int64_t n_rows) {
    int64_t n = rows ? n_rows * p->width : p->numel;
    reserve(p, n ? n : 1, rows != NULL);
    p->kind = rows ? GRAD_ROWS : GRAD_DENSE;
    p->n_rows = rows ? n_rows : 0;
    if (rows) memcpy(p->rows, rows, (size_t)n_rows * sizeof *rows);
    memcpy(p->values, values, (size_t)n * sizeof *values);
}

/* s = s + x for one part (x given as values and, for rows, its ascending row ids). */
static void part_add(GradPart *s, GradPartKind kind, const real *xv, const int64_t *xrows, int64_t xn) {
    int64_t w = s->width;
    if (kind == GRAD_NONE) return;
    if (s->kind == GRAD_NONE) {
        part_set(s, xv, kind == GRAD_ROWS ? xrows : NULL, xn);
        return;
    }
    if (s->kind == GRAD_DENSE && kind == GRAD_DENSE) {
        for (int64_t k = 0; k < s->numel; k++) s->values[k] += xv[k];
        return;
    }
    if (s->kind == GRAD_DENSE) { /* x's rows into the dense sum */
        for (int64_t r = 0; r < xn; r++) {
            real *d = s->values + xrows[r] * w;
            const real *v = xv + r * w;
            for (int64_t j = 0; j < w; j++) d[j] += v[j];
        }
        return;
    }
    /* s is rows: the result is dense (x dense) or the union of both rows, each s + x in this order */
    int64_t n_out = kind == GRAD_DENSE ? s->numel : (s->n_rows + xn) * w;
    real *out = nn_malloc((size_t)(n_out ? n_out : 1) * sizeof *out);
    if (kind == GRAD_DENSE) {
        memset(out, 0, (size_t)s->numel * sizeof *out);
        for (int64_t r = 0; r < s->n_rows; r++) memcpy(out + s->rows[r] * w, s->values + r * w, (size_t)w * sizeof *out);
        for (int64_t k = 0; k < s->numel; k++) out[k] += xv[k];
        s->kind = GRAD_DENSE;
        s->n_rows = 0;
    } else {
        int64_t *rows = nn_malloc((size_t)(s->numel / w + 1) * sizeof *rows), n = 0, a = 0, b = 0;
        while (a < s->n_rows || b < xn) {
            int64_t ra = a < s->n_rows ? s->rows[a] : INT64_MAX, rb = b < xn ? xrows[b] : INT64_MAX;
            real *d = out + n * w;
            if (ra == rb)
                for (int64_t j = 0; j < w; j++) d[j] = s->values[a * w + j] + xv[b * w + j];
            else
                memcpy(d, ra < rb ? s->values + a * w : xv + b * w, (size_t)w * sizeof *d);
            rows[n++] = ra < rb ? ra : rb;
            a += ra <= rb;
            b += rb <= ra;
        }
        free(s->rows);
        s->rows = rows;
        s->n_rows = n;
    }
    free(s->values);
    s->values = out;
    s->cap = n_out ? n_out : 1;
}

void grad_sum_add_module(GradSum *s, Module *m, double loss) {
    NN_CHECK(s->n_params == m->n_params, "grad_sum_add_module", "a sum of %d parameters, a module of %d", s->n_params,
             m->n_params);
    for (int i = 0; i < m->n_params; i++) {
        Tensor *p = m->params[i].value;
        if (!p->grad) continue;
        int64_t n;
        const int64_t *rows = ag_grad_rows(p, &n);
        if (!rows) {
            part_add(&s->part[i], GRAD_DENSE, p->grad->data, NULL, 0);
            continue;
        }
        /* the listed rows' values, gathered (part_add reads x's rows packed) */
        int64_t w = s->part[i].width;
        real *v = nn_malloc((size_t)(n * w + 1) * sizeof *v);
        for (int64_t r = 0; r < n; r++) memcpy(v + r * w, p->grad->data + rows[r] * w, (size_t)w * sizeof *v);
        part_add(&s->part[i], GRAD_ROWS, v, rows, n);
        free(v);
    }
    s->loss += loss;
}

void grad_sum_add(GradSum *s, const GradSum *x) {
    NN_CHECK(s->n_params == x->n_params, "grad_sum_add", "sums of %d and %d parameters", s->n_params, x->n_params);
    for (int i = 0; i < s->n_params; i++) {
        const GradPart *p = &x->part[i];
        part_add(&s->part[i], p->kind, p->values, p->rows, p->n_rows);
    }
    s->loss += x->loss;
}

void grad_sum_to_module(const GradSum *s, Module *m) {
    NN_CHECK(s->n_params == m->n_params, "grad_sum_to_module", "a sum of %d parameters, a module of %d", s->n_params,
             m->n_params);
    module_zero_grad(m);
    for (int i = 0; i < m->n_params; i++) {
        const GradPart *p = &s->part[i];
        Tensor *t = m->params[i].value;
        if (p->kind == GRAD_DENSE) {
            memcpy(ag_grad(NULL, t)->data, p->values, (size_t)p->numel * sizeof *p->values);
        } else if (p->kind == GRAD_ROWS) {
            real *d = ag_grad_add_rows(NULL, t, p->rows, p->n_rows, -1)->data;
            for (int64_t r = 0; r < p->n_rows; r++)
                memcpy(d + p->rows[r] * p->width, p->values + r * p->width, (size_t)p->width * sizeof *d);
        }
    }
}

/* ---- messages ---- */

/* A packed part: this header, then n_rows ids, then the values. */
typedef struct {
    int64_t kind, n_rows, n_values;
} PartHeader;

static int64_t part_values(const GradPart *p) {
    return p->kind == GRAD_DENSE ? p->numel : p->kind == GRAD_ROWS ? p->n_rows * p->width : 0;
}

size_t grad_sum_part_bytes(const GradSum *s, int i) {
    const GradPart *p = &s->part[i];
    return sizeof(PartHeader) + (size_t)(p->kind == GRAD_ROWS ? p->n_rows : 0) * sizeof(int64_t) +
           (size_t)part_values(p) * sizeof(real);
}

void grad_sum_pack(const GradSum *s, int i, void *buf) {
    const GradPart *p = &s->part[i];
    PartHeader h = {p->kind, p->kind == GRAD_ROWS ? p->n_rows : 0, part_values(p)};
    char *c = buf;
    memcpy(c, &h, sizeof h);
    c += sizeof h;
    if (h.n_rows) memcpy(c, p->rows, (size_t)h.n_rows * sizeof(int64_t));
    c += h.n_rows * sizeof(int64_t);
    if (h.n_values) memcpy(c, p->values, (size_t)h.n_values * sizeof(real));
}

void grad_sum_unpack(GradSum *s, int i, const void *buf, size_t bytes) {
    GradPart *p = &s->part[i];
    PartHeader h;
    NN_CHECK(bytes >= sizeof h, "grad_sum_unpack", "%zu bytes, less than a part's header", bytes);
    memcpy(&h, buf, sizeof h);
    const char *c = (const char *)buf + sizeof h;
    int64_t rows_max = p->numel / p->width;
    NN_CHECK(h.kind >= GRAD_NONE && h.kind <= GRAD_ROWS && h.n_rows >= 0 && h.n_rows <= rows_max &&
                 h.n_values == (h.kind == GRAD_DENSE ? p->numel : h.kind == GRAD_ROWS ? h.n_rows * p->width : 0) &&
                 bytes == sizeof h + (size_t)h.n_rows * sizeof(int64_t) + (size_t)h.n_values * sizeof(real),
             "grad_sum_unpack", "part %d: kind %lld, %lld rows, %lld values in %zu bytes do not fit a parameter of "
             "%lld elements in rows of %lld",
             i, (long long)h.kind, (long long)h.n_rows, (long long)h.n_values, bytes, (long long)p->numel,
             (long long)p->width);
    p->kind = GRAD_NONE;
    if (h.kind == GRAD_NONE) return;
    real *v = nn_malloc((size_t)(h.n_values ? h.n_values : 1) * sizeof *v); /* aligned for real */
    memcpy(v, c + h.n_rows * sizeof(int64_t), (size_t)h.n_values * sizeof *v);
    int64_t *rows = nn_malloc((size_t)(h.n_rows ? h.n_rows : 1) * sizeof *rows);
    memcpy(rows, c, (size_t)h.n_rows * sizeof *rows);
    part_set(p, v, h.kind == GRAD_ROWS ? rows : NULL, h.n_rows);
    free(v);
    free(rows);
}

/* ---- the chain of ranks ---- */

/* A message of the chain carries the running loss, then whole packed parts, consecutive, until it holds at
 * least GRAD_CHUNK_BYTES (or the parts end): a few messages per step however many small parameters a
 * model has (each message costs a latency, a scheduling round on a busy machine), while the next rank
 * starts on one chunk as the next is sent. Rank 0 cuts the chunks; the others forward them as cut. */
#define GRAD_CHUNK_BYTES ((size_t)1 << 20)

/* Parts [first, end) of s packed after the loss into a new buffer of *bytes. */
static char *pack_parts(const GradSum *s, int first, int end, size_t *bytes) {
    size_t n = sizeof s->loss;
    for (int i = first; i < end; i++) n += grad_sum_part_bytes(s, i);
    char *buf = nn_malloc(n), *c = buf + sizeof s->loss;
    memcpy(buf, &s->loss, sizeof s->loss);
    for (int i = first; i < end; i++) {
        grad_sum_pack(s, i, c);
        c += grad_sum_part_bytes(s, i);
    }
    *bytes = n;
    return buf;
}

/* Unpacks the parts of buf (bytes) into s from part first on; returns the part after the last one. */
static int unpack_parts(GradSum *s, int first, const char *buf, size_t bytes) {
    size_t at = sizeof s->loss;
    int i = first;
    while (at < bytes) {
        PartHeader h;
        NN_CHECK(i < s->n_params && bytes - at >= sizeof h, "grad_sum_chain", "a message of %zu bytes overruns "
                 "the %d parameters", bytes, s->n_params);
        memcpy(&h, buf + at, sizeof h);
        size_t n = sizeof h + (size_t)h.n_rows * sizeof(int64_t) + (size_t)h.n_values * sizeof(real);
        NN_CHECK(n <= bytes - at, "grad_sum_chain", "part %d: %zu bytes announced, %zu left", i, n, bytes - at);
        grad_sum_unpack(s, i++, buf + at, n);
        at += n;
    }
    return i;
}

static void send_chunk(const char *buf, uint64_t bytes, int to) {
    dist_send(&bytes, sizeof bytes, to);
    dist_send(buf, bytes, to);
}

static char *recv_chunk(int from, size_t *bytes) {
    uint64_t n;
    dist_recv(&n, sizeof n, from);
    char *buf = nn_malloc(n);
    dist_recv(buf, n, from);
    *bytes = n;
    return buf;
}

/* total.part[i] += every contribution of mine, in order. */
static void fold_mine(GradSum *total, int i, const GradSum *mine, int n_mine) {
    for (int k = 0; k < n_mine; k++) {
        const GradPart *p = &mine[k].part[i];
        part_add(&total->part[i], p->kind, p->values, p->rows, p->n_rows);
    }
}

void grad_sum_chain(GradSum *total, const GradSum *mine, int n_mine) {
    int rank = dist_rank(), size = dist_size();
    grad_sum_clear(total);
    int first = 0;
    do { /* one chunk of parts [first, end) */
        int end = first;
        size_t bytes;
        char *buf = NULL;
        if (rank > 0) {
            buf = recv_chunk(rank - 1, &bytes);
            end = unpack_parts(total, first, buf, bytes);
            if (first == 0) memcpy(&total->loss, buf, sizeof total->loss);
            free(buf);
            for (int i = first; i < end; i++) fold_mine(total, i, mine, n_mine);
        } else {
            for (size_t cut = 0; end < total->n_params && cut < GRAD_CHUNK_BYTES; end++) {
                fold_mine(total, end, mine, n_mine);
                cut += grad_sum_part_bytes(total, end);
            }
        }
        if (first == 0)
            for (int k = 0; k < n_mine; k++) total->loss += mine[k].loss;
        if (rank < size - 1) {
            buf = pack_parts(total, first, end, &bytes);
            send_chunk(buf, bytes, rank + 1);
            free(buf);
        }
        first = end;
    } while (first < total->n_params);
    if (size == 1) return;
    /* the last rank holds the total: one broadcast of all of it */
    size_t bytes = 0;
    char *buf = rank == size - 1 ? pack_parts(total, 0, total->n_params, &bytes) : NULL;
    uint64_t n = bytes;
    dist_bcast(&n, sizeof n, size - 1);
    if (!buf) buf = nn_malloc(n);
    dist_bcast(buf, n, size - 1);
    if (rank != size - 1) {
        unpack_parts(total, 0, buf, n);
        memcpy(&total->loss, buf, sizeof total->loss);
    }
    free(buf);
}

void module_allreduce_grads(Module *m) {
    GradSum mine, total;
    grad_sum_init(&mine, m);
    grad_sum_init(&total, m);
    grad_sum_add_module(&mine, m, 0);
    grad_sum_chain(&total, &mine, 1);
    grad_sum_to_module(&total, m);
    grad_sum_free(&mine);
    grad_sum_free(&total);
}
