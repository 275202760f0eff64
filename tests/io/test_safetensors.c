/* safetensors: bit-exact round trips, the reference library's files, every
 * truncation and bit flip of a file, a table of malformed headers, dtype
 * decoding, and atomic saves that survive SIGKILL. */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "tests/support.h"

/* ---- helpers ---- */

typedef struct {
    char dir[512];
} TmpDir;

static void tmp_make(TmpDir *t) {
    const char *base = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/nn_st_XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(t->dir), "mkdtemp %s: %s", t->dir, strerror(errno));
}

static const char *tmp_path(const TmpDir *t, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", t->dir, name);
    return buf;
}

/* Number of files in the folder whose name contains infix. */
static int tmp_count(const TmpDir *t, const char *infix) {
    DIR *d = opendir(t->dir);
    ck_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, infix)) n++;
    closedir(d);
    return n;
}

static void tmp_remove(TmpDir *t) {
    DIR *d = opendir(t->dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(tmp_path(t, e->d_name, p, sizeof p));
    closedir(d);
    rmdir(t->dir);
}

static unsigned char *read_all(const char *path, size_t *len) {
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

static void write_all(const char *path, const void *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* A file in memory: the 8-byte length of header, header, then data_len bytes of data (zeros if NULL). */
static unsigned char *make_file(const char *header, const void *data, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = calloc(*len + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (data) memcpy(b + 8 + h, data, data_len);
    return b;
}

/* Parses exactly len bytes of a private copy, so that ASan sees any read past the end. */
static SafeTensors *parse_n(const unsigned char *buf, size_t len, NnError *err) {
    unsigned char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    SafeTensors *st = safetensors_parse(copy, len, err);
    free(copy);
    return st;
}

static uint32_t bits_of(real x) {
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static real real_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return (real)f;
}

/* Loads every tensor into a Tensor of its shape: after a successful parse this must never fail. */
static void load_all(const SafeTensors *st) {
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

/* ---- round trips ---- */

START_TEST(st_round_trip_bit_exact) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    tmp_path(&td, "model.safetensors", path, sizeof path);

    static const uint32_t special[] = {
        0x7FC12345,             /* quiet NaN with a payload */
        0xFFC00001,             /* negative NaN with a payload */
        0x7F800001,             /* signalling NaN */
        0x80000000,             /* -0.0 */
        0x00000001,             /* smallest denormal */
        0x807FFFFF,             /* largest negative denormal */
        0x7F800000, 0xFF800000, /* +-inf */
        0x7F7FFFFF, 0x00800000, /* FLT_MAX, FLT_MIN */
        0x3F800000, 0xC0200000, /* 1, -2.5 */
    };
    Tensor *sp = tensor_zeros(NN_SHAPE(3, 4));
    for (int i = 0; i < 12; i++) sp->data[i] = real_of_bits(special[i]);
    Tensor *scalar = tensor_full(0, NULL, (real)3.25);
    Tensor *empty = tensor_zeros(NN_SHAPE(0, 3));
    Tensor *base = test_randn(1, NN_SHAPE(3, 5));
    Tensor transposed = tensor_transpose(base, 0, 1); /* non-contiguous: written in row-major order of the view */
    Tensor *row = test_randn(2, NN_SHAPE(1, 4));
    Tensor expanded = tensor_expand(row, NN_SHAPE(3, 4)); /* stride 0 */
    Tensor *big = test_randn(3, NN_SHAPE(17, 33, 2));
    const char *names[] = {"special", "scalar", "empty", "transposed", "expanded", "big"};
    const Tensor *ts[] = {sp, scalar, empty, &transposed, &expanded, big};
    NnError err;
    ck_assert_msg(safetensors_write(path, 6, names, ts, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);

    /* The data section begins at a multiple of 8, after a header padded with spaces. */
    size_t len;
    unsigned char *raw = read_all(path, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | raw[i];
    ck_assert_uint_eq((8 + n) % 8, 0);
    ck_assert_int_eq(raw[8], '{');
    size_t last = 8 + n - 1;
    while (raw[last] == ' ') last--;
    ck_assert_int_eq(raw[last], '}');
    free(raw);

    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 6);
    ck_assert_int_eq(safetensors_meta_count(st), 0);
    for (int i = 0; i < 6; i++) {
        /* header order is the order given */
        ck_assert_str_eq(safetensors_name(st, i), names[i]);
        ck_assert_int_eq(safetensors_find(st, names[i]), i);
        ck_assert_int_eq(safetensors_dtype(st, i), ST_F32);
        const int64_t *shape;
        int nd = safetensors_shape(st, i, &shape);
        ck_assert(shape_equal(nd, shape, ts[i]->ndim, ts[i]->shape));
        Tensor *want = tensor_clone(ts[i]);
        Tensor *got = tensor_full(nd, shape, (real)-7);
        ck_assert_msg(safetensors_load_into(st, names[i], got, &err) == 0, "%s", err.msg);
        int64_t k = 0;
        while (k < want->numel && bits_of(got->data[k]) == bits_of(want->data[k])) k++;
        ck_assert_msg(k == want->numel, "%s[%lld]: bits %08x, wrote %08x", names[i], (long long)k,
                      bits_of(got->data[k]), bits_of(want->data[k]));
        Tensor *alloc = safetensors_load(st, names[i], &err);
        ck_assert_msg(alloc, "%s", err.msg);
        ck_assert(memcmp(alloc->data, got->data, (size_t)got->numel * sizeof(real)) == 0);
        tensor_free(alloc);
        tensor_free(want);
        tensor_free(got);
    }
    ck_assert_int_eq(safetensors_find(st, "nope"), -1);
    safetensors_free(st);
    tensor_free(sp);
    tensor_free(scalar);
    tensor_free(empty);
    tensor_free(base);
    tensor_free(row);
    tensor_free(big);
    tmp_remove(&td);
}
END_TEST

START_TEST(st_metadata_and_escaped_names) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    tmp_path(&td, "m.safetensors", path, sizeof path);
    const char *names[] = {
        "a\"quote", "back\\slash", "tab\there",  "nl\nx", "\001ctl\037", "\xC3\xBCn\xC3\xAF\xC2\xA9 \xF0\x9F\x98\x80",
        "a/b.c[0]", " ",           "__metadata", "\x7F"};
    enum { N = sizeof names / sizeof names[0] };
    const Tensor *ts[N];
    Tensor *owned[N];
    for (int i = 0; i < N; i++) ts[i] = owned[i] = tensor_full(NN_SHAPE(i + 1), (real)i);
    const char *keys[] = {"format", "epoch", "note \"q\"", "", "\xE2\x82\xAC"};
    const char *values[] = {"pt", "3", "line1\nline2\t\\", "empty key", ""};
    NnError err;
    ck_assert_msg(safetensors_write(path, N, names, ts, 5, keys, values, &err) == 0, "%s", err.msg);
    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), N);
    for (int i = 0; i < N; i++) {
        int k = safetensors_find(st, names[i]);
        ck_assert_int_eq(k, i);
        ck_assert_str_eq(safetensors_name(st, k), names[i]);
        Tensor *t = safetensors_load(st, names[i], &err);
        ck_assert_msg(t, "%s", err.msg);
        ck_assert_int_eq(t->numel, i + 1);
        ck_assert(t->data[i] == (real)i);
        tensor_free(t);
    }
    ck_assert_int_eq(safetensors_meta_count(st), 5);
    for (int i = 0; i < 5; i++) {
        const char *k, *v;
        safetensors_meta_at(st, i, &k, &v);
        ck_assert_str_eq(k, keys[i]);
        ck_assert_str_eq(v, values[i]);
        ck_assert_str_eq(safetensors_meta(st, keys[i]), values[i]);
    }
    ck_assert_ptr_null(safetensors_meta(st, "missing"));
    safetensors_free(st);

    /* No tensors at all, with and without metadata. */
    ck_assert_msg(safetensors_write(path, 0, NULL, NULL, 1, keys, values, &err) == 0, "%s", err.msg);
    st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 0);
    ck_assert_str_eq(safetensors_meta(st, "format"), "pt");
    safetensors_free(st);
    ck_assert_msg(safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 0);
    safetensors_free(st);

    /* A name that is not UTF-8 cannot go into a JSON header: refused, nothing written. */
    char bad_path[1024];
    tmp_path(&td, "bad.safetensors", bad_path, sizeof bad_path);
    const char *bad[] = {"ok", "bad\xFF"};
    ck_assert_int_eq(safetensors_write(bad_path, 2, bad, ts, 0, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad.safetensors: tensor name 'bad\\xFF' is not valid UTF-8 (byte 3 is 0xFF)"), "%s",
                  err.msg);
    const char *bad_value[] = {"\xC0\x80"};
    ck_assert_int_eq(safetensors_write(bad_path, 1, names, ts, 1, keys, bad_value, &err), -1);
    ck_assert_msg(strstr(err.msg, "metadata value"), "%s", err.msg);
    ck_assert_int_eq(access(bad_path, F_OK), -1);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    test_free_all(N, owned);
    tmp_remove(&td);
}
END_TEST

/* ---- interop with files written by the reference library ---- */

START_TEST(st_reference_files) {
    const char *env = getenv("NN_SHARED_DATA");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/safetensors", env && *env ? env : "../shared/data");
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("test_safetensors: SKIPPED st_reference_files: %s not found (set NN_SHARED_DATA to the shared data "
               "folder)\n",
               dir);
        return;
    }
    char path[1100];
    NnError err;
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 1);
    ck_assert_str_eq(safetensors_name(st, 0), "f");
    ck_assert_int_eq(safetensors_dtype(st, 0), ST_F32);
    ck_assert_str_eq(safetensors_meta(st, "test"), "a");
    real v[6];
    Tensor t = tensor_wrap(v, NN_SHAPE(6));
    ck_assert_msg(safetensors_load_into(st, "f", &t, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 6; i++) ck_assert(v[i] == (real)(i - 3));
    safetensors_free(st);

    /* overall.safetensors holds -3..2 in nine dtypes; the unsigned ones hold the
     * two's-complement bytes of -3, -2, -1 (e.g. 253, 254, 255 as U8). */
    snprintf(path, sizeof path, "%s/overall.safetensors", dir);
    st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 9);
    ck_assert_str_eq(safetensors_meta(st, "test"), "a");
    static const struct {
        const char *name;
        StDtype dtype;
        double neg[3]; /* what -3, -2, -1 became */
    } cases[] = {
        {"B", ST_U8, {253, 254, 255}},
        {"H", ST_U16, {65533, 65534, 65535}},
        {"I", ST_U32, {4294967293.0, 4294967294.0, 4294967295.0}},
        {"b", ST_I8, {-3, -2, -1}},
        {"h", ST_I16, {-3, -2, -1}},
        {"i", ST_I32, {-3, -2, -1}},
        {"e", ST_F16, {-3, -2, -1}},
        {"f", ST_F32, {-3, -2, -1}},
        {"d", ST_F64, {-3, -2, -1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int k = safetensors_find(st, cases[c].name);
        ck_assert_msg(k >= 0, "no tensor %s", cases[c].name);
        ck_assert_int_eq(safetensors_dtype(st, k), cases[c].dtype);
        const int64_t *shape;
        ck_assert_int_eq(safetensors_shape(st, k, &shape), 1);
        ck_assert_int_eq(shape[0], 6);
        for (int i = 0; i < 6; i++) v[i] = -99;
        ck_assert_msg(safetensors_load_into(st, cases[c].name, &t, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 6; i++) {
            real want = i < 3 ? (real)cases[c].neg[i] : (real)(i - 3);
            ck_assert_msg(v[i] == want, "%s[%d] = %.9g, expected %.9g", cases[c].name, i, (double)v[i], (double)want);
        }
    }
    /* The U8 bytes themselves, independently of the conversion. */
    size_t nb;
    const unsigned char *u8 = safetensors_raw(st, safetensors_find(st, "B"), &nb);
    ck_assert_uint_eq(nb, 6);
    ck_assert(memcmp(u8, "\xFD\xFE\xFF\x00\x01\x02", 6) == 0);
    load_all(st);
    safetensors_free(st);
}
END_TEST

/* ---- hostile input ---- */

/* A valid file of more than 300 bytes written by our writer. */
static unsigned char *sample_file(const TmpDir *td, size_t *len) {
    char path[1024];
    tmp_path(td, "sample.safetensors", path, sizeof path);
    Tensor *a = test_randn(10, NN_SHAPE(2, 3)), *b = test_randn(11, NN_SHAPE(4)), *c = tensor_full(0, NULL, 1);
    Tensor *d = test_randn(12, NN_SHAPE(2, 2, 2, 2));
    const char *names[] = {"encoder.weight", "encoder.bias", "step", "block.0.attn"};
    const Tensor *ts[] = {a, b, c, d};
    const char *k[] = {"format", "epoch"}, *v[] = {"pt", "3"};
    NnError err;
    ck_assert_msg(safetensors_write(path, 4, names, ts, 2, k, v, &err) == 0, "%s", err.msg);
    tensor_free(a);
    tensor_free(b);
    tensor_free(c);
    tensor_free(d);
    unsigned char *buf = read_all(path, len);
    ck_assert_uint_ge(*len, 300);
    return buf;
}

START_TEST(st_truncated_at_every_length) {
    TmpDir td;
    tmp_make(&td);
    size_t len;
    unsigned char *file = sample_file(&td, &len);
    NnError err;
    SafeTensors *st = parse_n(file, len, &err);
    ck_assert_msg(st, "%s", err.msg);
    load_all(st);
    safetensors_free(st);
    for (size_t cut = 0; cut < len; cut++) {
        err.msg[0] = '\0';
        st = parse_n(file, cut, &err);
        ck_assert_msg(!st, "a file cut to %zu of %zu bytes was accepted", cut, len);
        ck_assert_msg(strncmp(err.msg, "safetensors data: ", 18) == 0 && strlen(err.msg) > 30, "cut %zu: '%s'", cut,
                      err.msg);
    }
    /* Through the file reader too: the message names the path. */
    char path[1024];
    tmp_path(&td, "cut.safetensors", path, sizeof path);
    size_t cuts[] = {0, 5, 8, 100, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_all(path, file, cuts[i]);
        ck_assert_ptr_null(safetensors_read(path, &err));
        ck_assert_msg(strstr(err.msg, path) == err.msg, "%s", err.msg);
    }
    free(file);
    tmp_remove(&td);
}
END_TEST

START_TEST(st_every_bit_flip) {
    TmpDir td;
    tmp_make(&td);
    size_t len;
    unsigned char *file = sample_file(&td, &len);
    unsigned char *buf = malloc(len);
    int accepted = 0, refused = 0;
    for (size_t i = 0; i < 300; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, file, len);
            buf[i] ^= (unsigned char)(1u << bit);
            NnError err = {{0}};
            SafeTensors *st = parse_n(buf, len, &err);
            if (st) {
                accepted++;
                load_all(st);
                safetensors_free(st);
            } else {
                refused++;
                ck_assert_msg(strncmp(err.msg, "safetensors data: ", 18) == 0 && strlen(err.msg) > 30,
                              "byte %zu bit %d: '%s'", i, bit, err.msg);
            }
        }
    /* Flips inside names, metadata values and padding keep a valid file. */
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_gt(refused, 0);
    free(buf);
    free(file);
    tmp_remove(&td);
}
END_TEST

#define F32_2 "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"

static const struct {
    const char *header;
    size_t data_len;
    const char *msg;
} MALFORMED[] = {
    {"{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[4,12]}}", 12,
     "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap"},
    {"{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[0,8]}}", 8, "overlap"},
    {"{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[12,20]}}", 20,
     "4 bytes of the data section belong to no tensor: a gap between 'a' (ends at 8) and 'b' (begins at 12)"},
    {"{\"a\":" F32_2 "[4,12]}}", 12, "the first tensor 'a' begins at 4, not 0"},
    {"{\"a\":" F32_2 "[0,8]}}", 12, "the data section is 12 bytes, but the tensors end at 8"},
    {"{}", 4, "the data section is 4 bytes, but the tensors end at 0"},
    {"{\"a\":" F32_2 "[0,8]}}", 4, "tensor 'a': data_offsets [0, 8] go past the end of the data section (4 bytes"},
    {"{\"a\":" F32_2 "[8,16]}}", 8, "go past the end"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a': data_offsets [0, 8] hold 8 bytes, but shape [2, 3] of F32 needs 24"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "shape [] of F64 needs 8"},
    {"{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
     "tensor 'a': unknown dtype 'F8' (known: BOOL"},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'f32'"},
    {"{\"a\":{\"dtype\":1,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype is 1, expected a string"},
    {"{\"a\":" F32_2 "[0,8]},\"a\":" F32_2 "[8,16]}}", 16, "duplicate key \"a\""},
    {"{\"__metadata__\":{\"epoch\":3}}", 0, "__metadata__ value of key 'epoch' is 3, expected a string"},
    {"{\"__metadata__\":{\"a\":\"x\",\"b\":null}}", 0, "value of key 'b' is a JSON null"},
    {"{\"__metadata__\":\"x\"}", 0, "__metadata__ is a JSON string, expected an object of string values"},
    {"{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, "contains a NUL character"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, "tensor 'a': missing key 'data_offsets'"},
    {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing key 'dtype'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, "unexpected key 'extra'"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\\u0000\":1,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     "unexpected key 'dtype\\x00'"},
    {"{\"a\":5}", 0, "tensor 'a': entry is 5, expected an object"},
    {"{\"a\":[]}", 0, "entry is a JSON array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
     "shape element 0 is -2, expected a non-negative integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "shape element 0 is 2.0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4, "shape element 0 is 1e0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "shape element 0 is a JSON string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, "shape is a JSON string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
     "shape [4294967296, 4294967296] of F32 is larger than 2^63 bytes"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[0,9223372036854775807,9223372036854775807],\"data_offsets\":[0,0]}}", 0,
     "larger than 2^63 bytes"},
    {"{\"a\":" F32_2 "[0]}}", 8, "data_offsets must be two non-negative integers"},
    {"{\"a\":" F32_2 "[0,8,8]}}", 8, "data_offsets must be two"},
    {"{\"a\":" F32_2 "[-8,0]}}", 8, "data_offsets must be two"},
    {"{\"a\":" F32_2 "[0,99999999999999999999]}}", 8, "data_offsets must be two"},
    {"{\"a\":" F32_2 "{\"b\":0,\"e\":8}}}", 8, "data_offsets must be two"},
    {"{\"a\":" F32_2 "[8,0]}}", 8, "tensor 'a': data_offsets [8, 0] end before they begin"},
    {"{\"\":" F32_2 "[0,8]}}", 8, "a tensor has an empty name"},
    {"{\"a\\u0000b\":" F32_2 "[0,8]}}", 8, "tensor 'a\\x00b': the name contains a NUL character"},
    {"{\"a\":" F32_2 "[0,8]}", 8,
     "header: JSON at byte 53: expected ',' or '}' after an object member, found end of input"},
    {"{\"a\":" F32_2 "[0,8]}},", 8, "header: JSON at byte 54: expected the end of input"},
    {"{\"a\\xff\":1}", 0, "header: JSON at byte 3: invalid escape"},
    {" {}", 0, "the header must be a JSON object beginning with '{', found byte 0x20"},
    {"[]", 0, "beginning with '{', found byte 0x5B"},
    {"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}", 0, "nesting deeper than 8 levels"},
    {"", 0, "the header is empty"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
     "1,"
     "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
     1, "shape has 65 dims, at most 64 are supported"},
};

START_TEST(st_malformed_headers) {
    for (size_t k = 0; k < sizeof MALFORMED / sizeof MALFORMED[0]; k++) {
        size_t len;
        unsigned char *file = make_file(MALFORMED[k].header, NULL, MALFORMED[k].data_len, &len);
        NnError err = {{0}};
        SafeTensors *st = parse_n(file, len, &err);
        ck_assert_msg(!st, "case %zu accepted: %s", k, MALFORMED[k].header);
        ck_assert_msg(strncmp(err.msg, "safetensors data: ", 18) == 0 && strstr(err.msg, MALFORMED[k].msg),
                      "case %zu: message \"%s\" lacks \"%s\"", k, err.msg, MALFORMED[k].msg);
        free(file);
    }
}
END_TEST

START_TEST(st_header_length_checks) {
    NnError err;
    ck_assert_ptr_null(parse_n((const unsigned char *)"\x02\0\0\0", 4, &err));
    ck_assert_msg(strstr(err.msg, "safetensors data: 4 bytes, too short for a safetensors file"), "%s", err.msg);
    ck_assert_ptr_null(safetensors_parse(NULL, 0, &err));
    ck_assert_msg(strstr(err.msg, "0 bytes, too short"), "%s", err.msg);

    size_t len;
    unsigned char *file = make_file("{}", NULL, 0, &len);
    file[0] = 0xE8, file[1] = 0x03; /* N = 1000 in a 10-byte file */
    ck_assert_ptr_null(parse_n(file, len, &err));
    ck_assert_msg(strstr(err.msg, "header length 1000 is more than the 2 bytes that follow it"), "%s", err.msg);
    memset(file, 0xFF, 8); /* N = 2^64 - 1: no overflow in the check */
    ck_assert_ptr_null(parse_n(file, len, &err));
    ck_assert_msg(strstr(err.msg, "header length 18446744073709551615 is more than"), "%s", err.msg);
    free(file);

    /* A valid header padded with spaces, and an N that stops inside the padding. */
    file = make_file("{\"a\":" F32_2 "[0,8]}}      ", NULL, 8, &len);
    SafeTensors *st = parse_n(file, len, &err);
    ck_assert_msg(st, "%s", err.msg);
    safetensors_free(st);
    free(file);
}
END_TEST

START_TEST(st_read_errors) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    NnError err;
    tmp_path(&td, "missing.safetensors", path, sizeof path);
    ck_assert_ptr_null(safetensors_read(path, &err));
    ck_assert_msg(strstr(err.msg, "missing.safetensors: cannot open: No such file or directory"), "%s", err.msg);
    ck_assert_ptr_null(safetensors_read(td.dir, &err));
    ck_assert_msg(strstr(err.msg, "not a regular file") || strstr(err.msg, "cannot open"), "%s", err.msg);
    /* A large file of another kind is refused from its first 8 bytes. */
    tmp_path(&td, "text.safetensors", path, sizeof path);
    write_all(path, "hello world, not a tensor file", 30);
    ck_assert_ptr_null(safetensors_read(path, &err));
    ck_assert_msg(strstr(err.msg, "text.safetensors: header length") && strstr(err.msg, "is more than"), "%s", err.msg);
    /* Saving into a folder that does not exist names the path and the OS error. */
    tmp_path(&td, "no/such/dir/x.safetensors", path, sizeof path);
    ck_assert_int_eq(safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "x.safetensors: cannot create a temporary file beside it") &&
                      strstr(err.msg, "No such file or directory"),
                  "%s", err.msg);
    tmp_remove(&td);
}
END_TEST

START_TEST(st_load_into_checks) {
    size_t len;
    unsigned char *file =
        make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", NULL, 24, &len);
    for (int i = 0; i < 6; i++) {
        float f = (float)i;
        memcpy(file + len - 24 + 4 * i, &f, 4);
    }
    NnError err;
    SafeTensors *st = parse_n(file, len, &err);
    ck_assert_msg(st, "%s", err.msg);
    Tensor *wrong = tensor_zeros(NN_SHAPE(3, 2));
    ck_assert_int_eq(safetensors_load_into(st, "a", wrong, &err), -1);
    ck_assert_msg(
        strstr(err.msg, "safetensors data: tensor 'a' has shape [2, 3], but the destination has shape [3, 2]"), "%s",
        err.msg);
    Tensor *flat = tensor_zeros(NN_SHAPE(6));
    ck_assert_int_eq(safetensors_load_into(st, "a", flat, &err), -1);
    ck_assert_int_eq(safetensors_load_into(st, "b", flat, &err), -1);
    ck_assert_msg(strstr(err.msg, "no tensor named 'b' (the file holds 1 tensors)"), "%s", err.msg);
    ck_assert_ptr_null(safetensors_load(st, "b", &err));
    /* A non-contiguous destination receives the values in its own row-major order. */
    Tensor view = tensor_transpose(wrong, 0, 1); /* shape (2, 3) */
    ck_assert_msg(safetensors_load_into(st, "a", &view, &err) == 0, "%s", err.msg);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++) ck_assert(wrong->data[c * 2 + r] == (real)(r * 3 + c));
    tensor_free(wrong);
    tensor_free(flat);
    safetensors_free(st);
    free(file);
}
END_TEST

static void put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

START_TEST(st_dtype_decoding) {
    const char *header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[10],\"data_offsets\":[0,20]},"
                         "\"bf\":{\"dtype\":\"BF16\",\"shape\":[6],\"data_offsets\":[20,32]},"
                         "\"bo\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[32,36]},"
                         "\"i64\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[36,60]},"
                         "\"u64\":{\"dtype\":\"U64\",\"shape\":[2],\"data_offsets\":[60,76]},"
                         "\"f64\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[76,100]}}";
    unsigned char data[100] = {0};
    static const uint16_t h[10] = {0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0x7C00, 0xFC00, 0x7E01};
    static const uint32_t h_want[10] = {0x00000000, 0x80000000, 0x33800000, 0x387FC000, 0x38800000,
                                        0x3F800000, 0x477FE000, 0x7F800000, 0xFF800000, 0x7FC02000};
    for (int i = 0; i < 10; i++) put16(data + 2 * i, h[i]);
    static const uint16_t bf[6] = {0x3F80, 0x0001, 0x7F80, 0xFF81, 0x8000, 0xC2F7};
    for (int i = 0; i < 6; i++) put16(data + 20 + 2 * i, bf[i]);
    memcpy(data + 32, "\x00\x01\x02\xFF", 4);
    put64(data + 36, (uint64_t)INT64_MIN);
    put64(data + 44, (uint64_t)-1);
    put64(data + 52, (uint64_t)INT64_MAX);
    put64(data + 60, UINT64_MAX);
    put64(data + 68, 5);
    double f64[3] = {0.1, -1e300, 3.0};
    for (int i = 0; i < 3; i++) {
        uint64_t u;
        memcpy(&u, &f64[i], 8);
        put64(data + 76 + 8 * i, u);
    }
    size_t len;
    unsigned char *file = make_file(header, data, sizeof data, &len);
    NnError err;
    SafeTensors *st = parse_n(file, len, &err);
    ck_assert_msg(st, "%s", err.msg);
    real v[10];
    Tensor t = tensor_wrap(v, NN_SHAPE(10));
    ck_assert_msg(safetensors_load_into(st, "h", &t, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 10; i++)
        ck_assert_msg(bits_of(v[i]) == h_want[i], "F16 %04x gave %08x, expected %08x", h[i], bits_of(v[i]), h_want[i]);
    t = tensor_wrap(v, NN_SHAPE(6));
    ck_assert_msg(safetensors_load_into(st, "bf", &t, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 6; i++) ck_assert_uint_eq(bits_of(v[i]), (uint32_t)bf[i] << 16);
    t = tensor_wrap(v, NN_SHAPE(4));
    ck_assert_msg(safetensors_load_into(st, "bo", &t, &err) == 0, "%s", err.msg);
    ck_assert(v[0] == 0 && v[1] == 1 && v[2] == 1 && v[3] == 1);
    t = tensor_wrap(v, NN_SHAPE(3));
    ck_assert_msg(safetensors_load_into(st, "i64", &t, &err) == 0, "%s", err.msg);
    ck_assert(v[0] == (real)INT64_MIN && v[1] == -1 && v[2] == (real)INT64_MAX);
    t = tensor_wrap(v, NN_SHAPE(2));
    ck_assert_msg(safetensors_load_into(st, "u64", &t, &err) == 0, "%s", err.msg);
    ck_assert(v[0] == (real)UINT64_MAX && v[1] == 5);
    t = tensor_wrap(v, NN_SHAPE(3));
    ck_assert_msg(safetensors_load_into(st, "f64", &t, &err) == 0, "%s", err.msg);
    ck_assert(v[0] == (real)0.1 && v[1] == (real)-1e300 && v[2] == 3);
    ck_assert_str_eq(st_dtype_name(safetensors_dtype(st, 1)), "BF16");
    ck_assert_int_eq(st_dtype_size(ST_BF16), 2);
    safetensors_free(st);
    free(file);
}
END_TEST

START_TEST(st_size_limits) {
    /* Sparse files: the limits are checked from the file size and the first 8
     * bytes, before anything large is read or allocated. */
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    NnError err;
    tmp_path(&td, "big_header.safetensors", path, sizeof path);
    unsigned char len8[8];
    put64(len8, SAFETENSORS_MAX_HEADER + 1);
    write_all(path, len8, 8);
    if (truncate(path, (off_t)SAFETENSORS_MAX_HEADER + 64) == 0) {
        ck_assert_ptr_null(safetensors_read(path, &err));
        ck_assert_msg(strstr(err.msg, "big_header.safetensors: header length 104857601 is more than the limit of "
                                      "104857600 bytes"),
                      "%s", err.msg);
    } else {
        printf("test_safetensors: SKIPPED header limit: cannot make a sparse file: %s\n", strerror(errno));
    }
    tmp_path(&td, "huge.safetensors", path, sizeof path);
    write_all(path, "", 0);
    if (truncate(path, (off_t)SAFETENSORS_MAX_FILE + 1) == 0) {
        ck_assert_ptr_null(safetensors_read(path, &err));
        ck_assert_msg(strstr(err.msg,
                             "huge.safetensors: 17179869185 bytes, more than the 17179869184 bytes this reader "
                             "loads into memory"),
                      "%s", err.msg);
    } else {
        printf("test_safetensors: SKIPPED file size limit: cannot make a sparse file: %s\n", strerror(errno));
    }
    tmp_remove(&td);
}
END_TEST

/* ---- atomic saves ---- */

START_TEST(st_atomic_abort_keeps_previous) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    tmp_path(&td, "keep.txt", path, sizeof path);
    NnError err;
    AtomicFile *af = atomic_open(path, &err);
    ck_assert_msg(af, "%s", err.msg);
    ck_assert_str_eq(atomic_path(af), path);
    fputs("old", atomic_stream(af));
    ck_assert_msg(atomic_commit(af, &err) == 0, "%s", err.msg);
    /* a new version is written, then dropped: the old one stays */
    af = atomic_open(path, &err);
    ck_assert_msg(af, "%s", err.msg);
    fputs("new, but abandoned", atomic_stream(af));
    fflush(atomic_stream(af));
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 1);
    atomic_abort(af);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    size_t len;
    unsigned char *b = read_all(path, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(b, "old", 3) == 0);
    free(b);
    /* the file gets the usual permissions, not mkstemp's 0600 */
    struct stat sb;
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0666 & ~mask);
    ck_assert_ptr_null(atomic_open("", &err));
    ck_assert_ptr_null(atomic_open("some/folder/", &err));
    ck_assert_msg(strstr(err.msg, "not a file path"), "%s", err.msg);
    tmp_remove(&td);
}
END_TEST

START_TEST(st_atomic_cleans_leftovers) {
    TmpDir td;
    tmp_make(&td);
    char path[1024], p[1100];
    tmp_path(&td, "m.safetensors", path, sizeof path);
    /* leftovers of killed saves of this target, and look-alikes that are not */
    const char *left[] = {"m.safetensors.tmp.AbC123", "m.safetensors.tmp.zzzzzz"};
    const char *keep[] = {"m.safetensors.tmp.AbC12", "m.safetensors.tmp.AbC1234", "x.safetensors.tmp.AbC123",
                          "m.safetensors.tmp.Ab-123"};
    for (int i = 0; i < 2; i++) write_all(tmp_path(&td, left[i], p, sizeof p), "x", 1);
    for (int i = 0; i < 4; i++) write_all(tmp_path(&td, keep[i], p, sizeof p), "x", 1);
    /* a save in progress holds its temporary file locked: it must survive */
    NnError err;
    AtomicFile *busy = atomic_open(path, &err);
    ck_assert_msg(busy, "%s", err.msg);
    ck_assert_msg(safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(access(tmp_path(&td, left[i], p, sizeof p), F_OK), -1);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(access(tmp_path(&td, keep[i], p, sizeof p), F_OK), 0);
    ck_assert_int_eq(tmp_count(&td, "m.safetensors.tmp."), 3 + 1); /* the look-alikes and the busy one */
    fputs("busy", atomic_stream(busy));
    ck_assert_msg(atomic_commit(busy, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tmp_count(&td, "m.safetensors.tmp."), 3);
    tmp_remove(&td);
}
END_TEST

/* value i of the big tensor in the save numbered version: exact in float */
static real pattern(int64_t i, int64_t version) { return (real)((i * 31 + version * 7919) % 1000003); }

static int save_version(const char *path, Tensor *big, int64_t version, NnError *err) {
    for (int64_t i = 0; i < big->numel; i++) big->data[i] = pattern(i, version);
    Tensor *v = tensor_full(0, NULL, (real)version);
    char vs[32];
    snprintf(vs, sizeof vs, "%lld", (long long)version);
    const char *names[] = {"big", "version"}, *k[] = {"version"}, *vals[] = {vs};
    const Tensor *ts[] = {big, v};
    int rc = safetensors_write(path, 2, names, ts, 1, k, vals, err);
    tensor_free(v);
    return rc;
}

/* Whether the file at path is one complete save: returns its version, fails the test otherwise. */
static int64_t check_complete(const char *path, int64_t n) {
    NnError err;
    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "after a kill: %s", err.msg);
    const char *vs = safetensors_meta(st, "version");
    ck_assert(vs);
    int64_t version = atoll(vs);
    Tensor *v = safetensors_load(st, "version", &err), *big = tensor_zeros(1, &n);
    ck_assert_msg(v, "%s", err.msg);
    ck_assert(v->data[0] == (real)version);
    ck_assert_msg(safetensors_load_into(st, "big", big, &err) == 0, "%s", err.msg);
    int64_t bad = -1; /* no ck_assert per element: each one writes to Check's log */
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (big->data[i] != pattern(i, version)) bad = i;
    ck_assert_msg(bad < 0, "version %lld element %lld is %g", (long long)version, (long long)bad,
                  bad < 0 ? 0.0 : (double)big->data[bad]);
    tensor_free(v);
    tensor_free(big);
    safetensors_free(st);
    return version;
}

START_TEST(st_atomic_save_survives_sigkill) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    tmp_path(&td, "ckpt.safetensors", path, sizeof path);
    int quick = test_quick();
    int64_t n = quick ? (int64_t)1 << 17 : (int64_t)1 << 20; /* 4 MB of F32, or 0.5 MB under valgrind */
    int rounds = quick ? 6 : 20;
    Tensor *big = tensor_zeros(1, &n);
    NnError err;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(save_version(path, big, 0, &err) == 0, "%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Kill times spread over four saves' worth, so that kills land before the
     * first save completes, inside later saves and between them. */
    double save_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    Rng rng = rng_new(2024, 7);
    int changed = 0, leftovers = 0;
    int64_t last = 0;
    for (int r = 0; r < rounds; r++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) { /* saves new versions until killed */
            for (int64_t v = (int64_t)(r + 1) * 1000;; v++)
                if (save_version(path, big, v, NULL)) _exit(3);
        }
        /* kill it at a random moment: before, during or between saves */
        double ms = 4 * save_ms * rng_uniform(&rng);
        struct timespec ts = {(time_t)(ms / 1e3), (long)(fmod(ms, 1e3) * 1e6)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the saving child exited by itself (%d)",
                      status);
        int64_t version = check_complete(path, n);
        ck_assert(version == last || version >= (int64_t)(r + 1) * 1000);
        changed += version != last;
        last = version;
        int left = tmp_count(&td, ".tmp.");
        if (left > leftovers) leftovers = left;
    }
    printf("test_safetensors: %d SIGKILLs during saves of %.1f MB (%.0f ms each): the file was complete every time, %d "
           "rounds replaced it, at most %d temporary files left after a kill\n",
           rounds, (double)n * 4 / 1e6, save_ms, changed, leftovers);
    ck_assert_msg(changed > 0, "no save completed before a kill: the test did not exercise replacement");
    /* The next successful save removes what killed saves left behind. */
    ck_assert_msg(save_version(path, big, 1, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    ck_assert_int_eq(check_complete(path, n), 1);
    tensor_free(big);
    tmp_remove(&td);
}
END_TEST

/* ---- programmer misuse aborts (only run when Check forks) ---- */

START_TEST(st_write_duplicate_names_aborts) {
    Tensor *a = tensor_zeros(NN_SHAPE(1));
    const char *names[] = {"w", "b", "w"};
    const Tensor *ts[] = {a, a, a};
    safetensors_write("/tmp/never_written.safetensors", 3, names, ts, 0, NULL, NULL, NULL);
}
END_TEST

START_TEST(st_write_empty_name_aborts) {
    Tensor *a = tensor_zeros(NN_SHAPE(1));
    const char *names[] = {""};
    const Tensor *ts[] = {a};
    safetensors_write("/tmp/never_written.safetensors", 1, names, ts, 0, NULL, NULL, NULL);
}
END_TEST

static Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, st_round_trip_bit_exact);
    tcase_add_test(tc, st_metadata_and_escaped_names);
    tcase_add_test(tc, st_reference_files);
    tcase_add_test(tc, st_truncated_at_every_length);
    tcase_add_test(tc, st_every_bit_flip);
    tcase_add_test(tc, st_malformed_headers);
    tcase_add_test(tc, st_header_length_checks);
    tcase_add_test(tc, st_read_errors);
    tcase_add_test(tc, st_load_into_checks);
    tcase_add_test(tc, st_dtype_decoding);
    tcase_add_test(tc, st_size_limits);
    suite_add_tcase(s, tc);

    TCase *ta = tcase_create("atomic");
    tcase_set_timeout(ta, 30);
    tcase_add_test(ta, st_atomic_abort_keeps_previous);
    tcase_add_test(ta, st_atomic_cleans_leftovers);
    tcase_add_test(ta, st_atomic_save_survives_sigkill);
    suite_add_tcase(s, ta);

    if (test_forking()) {
        TCase *tm = tcase_create("misuse");
        tcase_add_test_raise_signal(tm, st_write_duplicate_names_aborts, SIGABRT);
        tcase_add_test_raise_signal(tm, st_write_empty_name_aborts, SIGABRT);
        suite_add_tcase(s, tm);
    }
    return s;
}

TEST_MAIN(safetensors_suite)
