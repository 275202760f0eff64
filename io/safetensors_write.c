/* safetensors, writing: every tensor as little-endian F32 in row-major order,
 * the JSON header padded so that the data begins at a multiple of 8, the file
 * replaced atomically. The format is described in io/safetensors.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/utf8.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Aborts if a string appears twice in names: the caller built the list. */
static void check_unique(const char *what, int n, const char *const *names) {
    if (n < 2) return;
    const char **s = nn_malloc((size_t)n * sizeof *s + 1);
    memcpy(s, names, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_str);
    for (int i = 1; i < n; i++)
        NN_CHECK(strcmp(s[i - 1], s[i]) != 0, "safetensors_write", "%s '%s' given twice", what, s[i]);
    free(s);
}

/* -1 and a message if s is not UTF-8 (JSON cannot hold it). */
static int check_utf8(const char *path, const char *what, const char *s, NnError *err) {
    size_t n = strlen(s), ok = utf8_valid_len(s, n);
    if (ok == n) return 0;
    return nn_fail(err, "%s: %s '%s' is not valid UTF-8 (byte %zu is 0x%02X)", path, what,
                   utf8_quote(s, n, UTF8_QUOTE_MAX).s, ok, (unsigned char)s[ok]);
}

/* The JSON header, padded with spaces so that the data section begins at a multiple of 8. */
static char *build_header(int n, const char *const *names, const Tensor *const *tensors, int n_meta,
                          const char *const *meta_keys, const char *const *meta_values, size_t *len) {
    char *hdr = NULL;
    FILE *h = open_memstream(&hdr, len);
    NN_CHECK(h, "safetensors_write", "open_memstream failed: %s", strerror(errno));
    putc('{', h);
    if (n_meta) {
        fputs("\"__metadata__\":{", h);
        for (int i = 0; i < n_meta; i++) {
            if (i) putc(',', h);
            json_write_string(h, meta_keys[i], strlen(meta_keys[i]), NULL);
            putc(':', h);
            json_write_string(h, meta_values[i], strlen(meta_values[i]), NULL);
        }
        putc('}', h);
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const Tensor *t = tensors[i];
        if (i || n_meta) putc(',', h);
        json_write_string(h, names[i], strlen(names[i]), NULL);
        fputs(":{\"dtype\":\"F32\",\"shape\":[", h);
        for (int d = 0; d < t->ndim; d++) fprintf(h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        uint64_t bytes = (uint64_t)t->numel * 4;
        fprintf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset, (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    putc('}', h);
    fflush(h);
    for (size_t pad = (8 - *len % 8) % 8; pad; pad--) putc(' ', h);
    NN_CHECK(fclose(h) == 0 && hdr, "safetensors_write", "building the header in memory failed");
    return hdr;
}

/* t's elements in row-major order (any strides) as little-endian F32. */
static void write_f32(FILE *f, const Tensor *t) {
    unsigned char buf[16384];
    size_t k = 0;
    int64_t inner = t->ndim ? t->shape[t->ndim - 1] : 1, step = t->ndim ? t->stride[t->ndim - 1] : 1;
    int64_t rows = inner ? t->numel / inner : 0;
    for (int64_t r = 0; r < rows; r++) {
        const real *row = t->data + tensor_offset_of(t, r * inner);
        for (int64_t j = 0; j < inner; j++) {
            float v = (float)row[j * step];
            uint32_t u;
            memcpy(&u, &v, sizeof u);
            buf[k] = (unsigned char)u;
            buf[k + 1] = (unsigned char)(u >> 8);
            buf[k + 2] = (unsigned char)(u >> 16);
            buf[k + 3] = (unsigned char)(u >> 24);
            if ((k += 4) == sizeof buf) {
                fwrite(buf, 1, k, f);
                k = 0;
            }
        }
    }
    fwrite(buf, 1, k, f);
}

int safetensors_write(const char *path, int n, const char *const *names, const Tensor *const *tensors, int n_meta,
                      const char *const *meta_keys, const char *const *meta_values, NnError *err) {
    const char *op = "safetensors_write";
    NN_CHECK(path && n >= 0 && n_meta >= 0, op, "bad arguments (path %p, %d tensors, %d metadata)", (const void *)path,
             n, n_meta);
    NN_CHECK(!n || (names && tensors), op, "NULL names or tensors for %d tensors", n);
    NN_CHECK(!n_meta || (meta_keys && meta_values), op, "NULL metadata arrays for %d entries", n_meta);
    for (int i = 0; i < n; i++) {
        NN_CHECK(names[i] && names[i][0], op, "tensor %d has an empty name", i);
        NN_CHECK(strcmp(names[i], "__metadata__") != 0, op, "tensor %d is named __metadata__, a reserved key", i);
        NN_CHECK(tensors[i], op, "tensor '%s' is NULL", names[i]);
        if (check_utf8(path, "tensor name", names[i], err)) return -1;
    }
    for (int i = 0; i < n_meta; i++) {
        NN_CHECK(meta_keys[i] && meta_values[i], op, "metadata entry %d has a NULL key or value", i);
        if (check_utf8(path, "metadata key", meta_keys[i], err) ||
            check_utf8(path, "metadata value", meta_values[i], err))
            return -1;
    }
    check_unique("tensor name", n, names);
    check_unique("metadata key", n_meta, meta_keys);

    size_t hlen;
    char *hdr = build_header(n, names, tensors, n_meta, meta_keys, meta_values, &hlen);
    AtomicFile *af = atomic_open(path, err);
    if (!af) {
        free(hdr);
        return -1;
    }
    FILE *f = atomic_stream(af);
    unsigned char len8[8];
    for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
    fwrite(len8, 1, 8, f);
    fwrite(hdr, 1, hlen, f);
    free(hdr);
    for (int i = 0; i < n; i++) write_f32(f, tensors[i]);
    /* Write errors are sticky on the stream; atomic_commit reports them. */
    return atomic_commit(af, err);
}
