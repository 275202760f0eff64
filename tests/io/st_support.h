/* Helpers shared by the safetensors and atomic-file suites: a temporary
 * folder, whole-file reads and writes, files built byte by byte, and parsing
 * that lets ASan see a read past the end. Not a normal header: its functions
 * are static inline, so each suite compiles the ones it uses. */
#ifndef NN_TESTS_IO_ST_SUPPORT_H
#define NN_TESTS_IO_ST_SUPPORT_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "tests/support.h"

typedef struct {
    char dir[512];
} TmpDir;

static inline void tmp_make(TmpDir *t) {
    const char *base = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/nn_st_XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(t->dir), "mkdtemp %s: %s", t->dir, strerror(errno));
}

static inline const char *tmp_path(const TmpDir *t, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", t->dir, name);
    return buf;
}

/* Number of files in the folder whose name contains infix. */
static inline int tmp_count(const TmpDir *t, const char *infix) {
    DIR *d = opendir(t->dir);
    ck_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, infix)) n++;
    closedir(d);
    return n;
}

static inline void tmp_remove(TmpDir *t) {
    DIR *d = opendir(t->dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(tmp_path(t, e->d_name, p, sizeof p));
    closedir(d);
    rmdir(t->dir);
}

static inline unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static inline void write_all(const char *path, const void *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* A file in memory: the 8-byte length of header, header, then data_len bytes of data (zeros if NULL). */
static inline unsigned char *make_file(const char *header, const void *data, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = calloc(*len + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (data) memcpy(b + 8 + h, data, data_len);
    return b;
}

/* Parses exactly len bytes of a private copy, so that ASan sees any read past the end. */
static inline SafeTensors *parse_n(const unsigned char *buf, size_t len, NnError *err) {
    unsigned char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    SafeTensors *st = safetensors_parse(copy, len, err);
    free(copy);
    return st;
}

static inline uint32_t bits_of(real x) {
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline real real_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return (real)f;
}

/* Loads every tensor into a Tensor of its shape: after a successful parse this must never fail. */
static inline void load_all(const SafeTensors *st) {
    for (int i = 0; i < safetensors_count(st); i++) {
        const int64_t *shape;
        int nd = safetensors_shape(st, i, &shape);
        if (nd > TENSOR_MAX_DIMS) continue;
        Tensor *t = tensor_zeros(nd, shape);
        NnError err;
        ck_assert_msg(safetensors_load_into(st, safetensors_name(st, i), t, &err) == 0, "%s", err.msg);
        size_t bytes;
        safetensors_raw(st, i, &bytes);
        ck_assert_uint_eq(bytes, (size_t)t->numel * (size_t)st_dtype_size(safetensors_dtype(st, i)));
        tensor_free(t);
    }
}

#endif
