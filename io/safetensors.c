/* safetensors, reading: the dtype table, the header checked up front (every
 * refusal names the file and the numbers), then access and conversion to
 * real. The writer is io/safetensors_write.c. */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/memory.h"
#include "io/json.h"
#include "io/utf8.h"

static const struct {
    const char *name;
    int size;
} DTYPES[ST_NDTYPES] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},     [ST_U16] = {"U16", 2},
    [ST_I16] = {"I16", 2},   [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_U32] = {"U32", 4},
    [ST_I32] = {"I32", 4},   [ST_F32] = {"F32", 4}, [ST_U64] = {"U64", 8},   [ST_I64] = {"I64", 8},
    [ST_F64] = {"F64", 8},
};

const char *st_dtype_name(StDtype d) {
    NN_CHECK(d >= 0 && d < ST_NDTYPES, "st_dtype_name", "dtype %d out of range", (int)d);
    return DTYPES[d].name;
}

int st_dtype_size(StDtype d) {
    NN_CHECK(d >= 0 && d < ST_NDTYPES, "st_dtype_size", "dtype %d out of range", (int)d);
    return DTYPES[d].size;
}

typedef struct {
    const char *name; /* an Entry's */
    int index;        /* into entries */
} NameIndex;

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t *shape;      /* (ndim) */
    uint64_t begin, end; /* byte range in the data section */
} Entry;

struct SafeTensors {
    char *label;               /* the path, for messages */
    unsigned char *buf;        /* the whole file (len) */
    const unsigned char *data; /* the data section inside buf (data_len) */
    uint64_t data_len;
    int n;
    Entry *entries;     /* (n) in header order */
    NameIndex *by_name; /* (n) sorted by name, for lookups */
    int n_meta;
    char **meta_keys, **meta_values; /* (n_meta) in header order */
};

static char *dup_bytes(const char *s, size_t n) {
    char *d = nn_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* A shape as the header writes it, "[64, 64]", for messages (cut past 255 bytes). */
typedef struct {
    char s[256];
} DimsStr;

static DimsStr dims_str(int ndim, const int64_t *shape) {
    DimsStr d;
    size_t cap = sizeof d.s, o = (size_t)snprintf(d.s, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(d.s + o, cap - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(d.s + o, cap - o, "]");
    return d;
}

/* A tensor name or metadata string as messages show it. */
static Utf8Quote quote_name(const char *name) { return utf8_quote(name, strlen(name), UTF8_QUOTE_MAX); }

/* ---- little-endian bytes ---- */

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static float f32_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half to float; exact, since every half is a float. */
static float f16_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = h >> 10 & 0x1F, man = h & 0x3FF;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    if (exp == 31) return f32_of_bits(sign | 0x7F800000u | man << 13); /* inf, NaN (payload kept) */
    return f32_of_bits(sign | (exp + 127 - 15) << 23 | man << 13);
}

/* count elements of dtype at src (unaligned, little-endian) into out. */
static void convert(StDtype dtype, const unsigned char *src, int64_t count, real *out) {
    for (int64_t i = 0; i < count; i++) {
        const unsigned char *p = src + i * DTYPES[dtype].size;
        real v;
        switch (dtype) {
        case ST_BOOL: v = p[0] != 0; break;
        case ST_U8: v = (real)p[0]; break;
        case ST_I8: v = (real)(int8_t)p[0]; break;
        case ST_U16: v = (real)le16(p); break;
        case ST_I16: v = (real)(int16_t)le16(p); break;
        case ST_F16: v = (real)f16_to_float(le16(p)); break;
        case ST_BF16: v = (real)f32_of_bits((uint32_t)le16(p) << 16); break;
        case ST_U32: v = (real)le32(p); break;
        case ST_I32: v = (real)(int32_t)le32(p); break;
        case ST_F32: v = (real)f32_of_bits(le32(p)); break;
        case ST_U64: v = (real)le64(p); break;
        case ST_I64: v = (real)(int64_t)le64(p); break;
        case ST_F64: {
            uint64_t u = le64(p);
            double d;
            memcpy(&d, &u, sizeof d);
            v = (real)d;
            break;
        }
        default: nn_abort("safetensors", "dtype %d out of range", (int)dtype);
        }
        out[i] = v;
    }
}

/* ---- reading: checking the header ---- */

typedef struct {
    SafeTensors *st;
    NnError *err;
} Ctx;

static int bad_length(const char *label, uint64_t header_len, uint64_t file_len, NnError *err) {
    if (header_len > file_len - 8)
        return nn_fail(err,
                       "%s: header length %llu is more than the %llu bytes that follow it (a truncated file, or not "
                       "a safetensors file)",
                       label, (unsigned long long)header_len, (unsigned long long)(file_len - 8));
    if (header_len > SAFETENSORS_MAX_HEADER)
        return nn_fail(err, "%s: header length %llu is more than the limit of %llu bytes", label,
                       (unsigned long long)header_len, (unsigned long long)SAFETENSORS_MAX_HEADER);
    return 0;
}

/* 0 and *out = v if v is a non-negative integer (no fraction, no exponent); else -1. */
static int get_uint(const Json *v, int64_t *out) {
    return json_type(v) == JSON_NUMBER && !json_int64(v, out) && *out >= 0 ? 0 : -1;
}

/* "3.5", "-2", "a JSON string": how a bad value looks, for messages. */
static Utf8Quote describe(const Json *v) {
    if (json_type(v) == JSON_NUMBER) {
        const char *t = json_number_text(v);
        return utf8_quote(t, strlen(t), 60);
    }
    Utf8Quote q;
    snprintf(q.s, sizeof q.s, "a JSON %s", json_type_name(json_type(v)));
    return q;
}

static int read_metadata(Ctx *c, const Json *meta) {
    SafeTensors *st = c->st;
    if (json_type(meta) != JSON_OBJECT)
        return nn_fail(c->err, "%s: __metadata__ is %s, expected an object of string values", st->label,
                       describe(meta).s);
    size_t m = json_count(meta);
    st->meta_keys = nn_calloc(m, sizeof(char *));
    st->meta_values = nn_calloc(m, sizeof(char *));
    for (size_t i = 0; i < m; i++) {
        size_t kl, vl;
        const char *key = json_key_at(meta, i, &kl);
        const char *val = json_string(json_value_at(meta, i), &vl);
        Utf8Quote k = utf8_quote(key, kl, UTF8_QUOTE_MAX);
        if (!val)
            return nn_fail(c->err, "%s: __metadata__ value of key '%s' is %s, expected a string", st->label, k.s,
                           describe(json_value_at(meta, i)).s);
        if (memchr(key, 0, kl) || memchr(val, 0, vl))
            return nn_fail(c->err, "%s: __metadata__ entry '%s' contains a NUL character (\\u0000)", st->label, k.s);
        st->meta_keys[i] = dup_bytes(key, kl);
        st->meta_values[i] = dup_bytes(val, vl);
        st->n_meta++;
    }
    return 0;
}

/* An entry's keys: exactly dtype, shape and data_offsets (lengths compared too: a key may hold a NUL). */
static int read_keys(Ctx *c, const char *nm, const Json *v) {
    for (size_t i = 0; i < json_count(v); i++) {
        size_t n;
        const char *k = json_key_at(v, i, &n);
        if (!(n == 5 && !memcmp(k, "dtype", 5)) && !(n == 5 && !memcmp(k, "shape", 5)) &&
            !(n == 12 && !memcmp(k, "data_offsets", 12)))
            return nn_fail(c->err,
                           "%s: tensor '%s': unexpected key '%s' (an entry has only dtype, shape and data_offsets)",
                           c->st->label, nm, utf8_quote(k, n, 60).s);
    }
    return 0;
}

/* The dtype's index in DTYPES, or -1 with the message. */
static int read_dtype(Ctx *c, const char *nm, const Json *jd) {
    const char *L = c->st->label;
    size_t dl;
    const char *ds = json_string(jd, &dl);
    if (!ds) return nn_fail(c->err, "%s: tensor '%s': dtype is %s, expected a string", L, nm, describe(jd).s);
    int dt = -1;
    for (int k = 0; k < ST_NDTYPES; k++)
        if (strlen(DTYPES[k].name) == dl && memcmp(DTYPES[k].name, ds, dl) == 0) dt = k;
    if (dt < 0)
        return nn_fail(
            c->err,
            "%s: tensor '%s': unknown dtype '%s' (known: BOOL, U8, I8, U16, I16, F16, BF16, U32, I32, F32, U64, "
            "I64, F64)",
            L, nm, utf8_quote(ds, dl, 60).s);
    return dt;
}

/* e's shape from js (e->dtype set), and in *need the bytes it takes. */
static int read_shape(Ctx *c, const char *nm, const Json *js, Entry *e, uint64_t *need) {
    const char *L = c->st->label;
    int dt = (int)e->dtype;
    if (json_type(js) != JSON_ARRAY)
        return nn_fail(c->err, "%s: tensor '%s': shape is %s, expected an array of sizes", L, nm, describe(js).s);
    if (json_count(js) > SAFETENSORS_MAX_DIMS)
        return nn_fail(c->err, "%s: tensor '%s': shape has %zu dims, at most %d are supported", L, nm, json_count(js),
                       SAFETENSORS_MAX_DIMS);
    e->ndim = (int)json_count(js);
    e->shape = nn_malloc((size_t)e->ndim * sizeof(int64_t) + 1);
    /* numel, checked for overflow; zero sizes are left out of the check so that
     * every stride a tensor of this shape would have fits too. */
    uint64_t nonzero = 1, size = (uint64_t)DTYPES[dt].size;
    int any_zero = 0;
    for (int i = 0; i < e->ndim; i++) {
        if (get_uint(json_at(js, (size_t)i), &e->shape[i]))
            return nn_fail(c->err, "%s: tensor '%s': shape element %d is %s, expected a non-negative integer", L, nm, i,
                           describe(json_at(js, (size_t)i)).s);
        uint64_t s = (uint64_t)e->shape[i];
        if (!s)
            any_zero = 1;
        else if (nonzero > (uint64_t)INT64_MAX / size / s)
            return nn_fail(c->err, "%s: tensor '%s': shape %s of %s is larger than 2^63 bytes", L, nm,
                           dims_str(i + 1, e->shape).s, DTYPES[dt].name);
        else
            nonzero *= s;
    }
    *need = any_zero ? 0 : nonzero * size;
    return 0;
}

/* e's data_offsets from jo: need bytes, within the data section. */
static int read_offsets(Ctx *c, const char *nm, const Json *jo, uint64_t need, Entry *e) {
    const char *L = c->st->label;
    int64_t off[2];
    if (json_type(jo) != JSON_ARRAY || json_count(jo) != 2 || get_uint(json_at(jo, 0), &off[0]) ||
        get_uint(json_at(jo, 1), &off[1]))
        return nn_fail(c->err, "%s: tensor '%s': data_offsets must be two non-negative integers [begin, end]", L, nm);
    e->begin = (uint64_t)off[0];
    e->end = (uint64_t)off[1];
    if (e->begin > e->end)
        return nn_fail(c->err, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", L, nm,
                       (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end - e->begin != need)
        return nn_fail(
            c->err, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but shape %s of %s needs %llu", L, nm,
            (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)(e->end - e->begin),
            dims_str(e->ndim, e->shape).s, DTYPES[e->dtype].name, (unsigned long long)need);
    if (e->end > c->st->data_len)
        return nn_fail(c->err,
                       "%s: tensor '%s': data_offsets [%llu, %llu] go past the end of the data section (%llu bytes; is "
                       "the file truncated?)",
                       L, nm, (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)c->st->data_len);
    return 0;
}

static int read_entry(Ctx *c, const char *key, size_t klen, const Json *v, size_t at, Entry *e) {
    const char *L = c->st->label;
    Utf8Quote nm = utf8_quote(key, klen, UTF8_QUOTE_MAX);
    if (!klen) return nn_fail(c->err, "%s: a tensor has an empty name (its entry is at byte %zu of the header)", L, at);
    if (memchr(key, 0, klen))
        return nn_fail(c->err, "%s: tensor '%s': the name contains a NUL character (\\u0000)", L, nm.s);
    if (json_type(v) != JSON_OBJECT)
        return nn_fail(c->err, "%s: tensor '%s': entry is %s, expected an object with dtype, shape and data_offsets", L,
                       nm.s, describe(v).s);
    if (read_keys(c, nm.s, v)) return -1;
    const Json *jd = json_get(v, "dtype"), *js = json_get(v, "shape"), *jo = json_get(v, "data_offsets");
    const char *missing = !jd ? "dtype" : !js ? "shape" : !jo ? "data_offsets" : NULL;
    if (missing) return nn_fail(c->err, "%s: tensor '%s': missing key '%s'", L, nm.s, missing);
    int dt = read_dtype(c, nm.s, jd);
    if (dt < 0) return -1;
    e->dtype = (StDtype)dt;
    uint64_t need = 0;
    if (read_shape(c, nm.s, js, e, &need) || read_offsets(c, nm.s, jo, need, e)) return -1;
    e->name = dup_bytes(key, klen);
    return 0;
}

static int cmp_range(const void *a, const void *b) {
    const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The tensors, ordered by where they begin, must cover the data section exactly. */
static int check_tiling(Ctx *c) {
    SafeTensors *st = c->st;
    const Entry **by = nn_malloc((size_t)st->n * sizeof *by + 1);
    for (int i = 0; i < st->n; i++) by[i] = &st->entries[i];
    qsort(by, (size_t)st->n, sizeof *by, cmp_range);
    uint64_t at = 0;
    const Entry *prev = NULL;
    int rc = 0;
    for (int i = 0; i < st->n && !rc; i++) {
        const Entry *e = by[i];
        if (e->begin < at)
            rc = nn_fail(
                c->err, "%s: tensors '%s' (data_offsets [%llu, %llu]) and '%s' (data_offsets [%llu, %llu]) overlap",
                st->label, quote_name(prev->name).s, (unsigned long long)prev->begin, (unsigned long long)prev->end,
                quote_name(e->name).s, (unsigned long long)e->begin, (unsigned long long)e->end);
        else if (e->begin > at && prev)
            rc =
                nn_fail(c->err,
                        "%s: %llu bytes of the data section belong to no tensor: a gap between '%s' (ends at %llu) and "
                        "'%s' (begins at %llu)",
                        st->label, (unsigned long long)(e->begin - at), quote_name(prev->name).s,
                        (unsigned long long)at, quote_name(e->name).s, (unsigned long long)e->begin);
        else if (e->begin > at)
            rc =
                nn_fail(c->err,
                        "%s: %llu bytes of the data section belong to no tensor: the first tensor '%s' begins at %llu, "
                        "not 0",
                        st->label, (unsigned long long)e->begin, quote_name(e->name).s, (unsigned long long)e->begin);
        at = e->end;
        prev = e;
    }
    if (!rc && at != st->data_len)
        rc = nn_fail(c->err,
                     "%s: the data section is %llu bytes, but the tensors end at %llu: %llu bytes at the end belong to "
                     "no tensor",
                     st->label, (unsigned long long)st->data_len, (unsigned long long)at,
                     (unsigned long long)(st->data_len - at));
    free(by);
    return rc;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const NameIndex *)a)->name, ((const NameIndex *)b)->name);
}

static int check(SafeTensors *st, size_t len, NnError *err) {
    Ctx c = {st, err};
    if (len < 8)
        return nn_fail(err, "%s: %zu bytes, too short for a safetensors file (it begins with an 8-byte header length)",
                       st->label, len);
    uint64_t hl = le64(st->buf);
    if (bad_length(st->label, hl, len, err)) return -1;
    if (hl == 0) return nn_fail(err, "%s: the header is empty, expected a JSON object", st->label);
    if (st->buf[8] != '{')
        return nn_fail(err, "%s: the header must be a JSON object beginning with '{', found byte 0x%02X", st->label,
                       st->buf[8]);
    st->data = st->buf + 8 + hl;
    st->data_len = len - 8 - hl;
    NnError jerr;
    JsonLimits lim = {.max_bytes = SAFETENSORS_MAX_HEADER, .max_depth = 8};
    JsonDoc *doc = json_parse((const char *)st->buf + 8, hl, &lim, &jerr);
    if (!doc) return nn_fail(err, "%s: header: %s", st->label, jerr.msg);
    const Json *root = json_root(doc);
    size_t m = json_count(root);
    int rc = 0;
    if (m > INT_MAX) rc = nn_fail(err, "%s: the header lists %zu tensors, more than supported", st->label, m);
    st->entries = nn_calloc(m, sizeof(Entry));
    for (size_t i = 0; i < m && !rc; i++) {
        size_t kl;
        const char *key = json_key_at(root, i, &kl);
        const Json *v = json_value_at(root, i);
        if (kl == 12 && memcmp(key, "__metadata__", 12) == 0)
            rc = read_metadata(&c, v);
        else if (!(rc = read_entry(&c, key, kl, v, json_offset(v), &st->entries[st->n])))
            st->n++;
        else
            free(st->entries[st->n].shape); /* the failed entry is not counted, so free its shape here */
    }
    json_free(doc);
    if (!rc) rc = check_tiling(&c);
    if (!rc) {
        st->by_name = nn_malloc((size_t)st->n * sizeof *st->by_name + 1);
        for (int i = 0; i < st->n; i++) st->by_name[i] = (NameIndex){st->entries[i].name, i};
        qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_name);
    }
    return rc;
}

/* Takes ownership of buf. */
static SafeTensors *parse_owned(unsigned char *buf, size_t len, const char *label, NnError *err) {
    SafeTensors *st = nn_calloc(1, sizeof *st);
    st->label = dup_bytes(label, strlen(label));
    st->buf = buf;
    if (check(st, len, err)) {
        safetensors_free(st);
        return NULL;
    }
    return st;
}

SafeTensors *safetensors_adopt(void *buf, size_t len, const char *label, NnError *err) {
    NN_CHECK(buf && label, "safetensors_adopt", "NULL argument");
    return parse_owned(buf, len, label, err);
}

SafeTensors *safetensors_parse(const void *buf, size_t len, NnError *err) {
    NN_CHECK(buf || !len, "safetensors_parse", "NULL buffer of %zu bytes", len);
    unsigned char *copy = nn_malloc(len + 1);
    if (len) memcpy(copy, buf, len);
    return parse_owned(copy, len, "safetensors data", err);
}

SafeTensors *safetensors_read(const char *path, NnError *err) {
    NN_CHECK(path, "safetensors_read", "NULL path");
    /* O_NONBLOCK: a FIFO is refused below (not a regular file) instead of waited on */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        nn_fail(err, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    struct stat sb;
    unsigned char *buf = NULL;
    size_t size = 0;
    if (fstat(fileno(f), &sb) != 0) {
        nn_fail(err, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        nn_fail(err, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)sb.st_size > SAFETENSORS_MAX_FILE || (uint64_t)sb.st_size > SIZE_MAX - 1) {
        nn_fail(err, "%s: %llu bytes, more than the %llu bytes this reader loads into memory", path,
                (unsigned long long)sb.st_size, (unsigned long long)SAFETENSORS_MAX_FILE);
        goto fail;
    }
    size = (size_t)sb.st_size;
    /* Check the header length before reading what may be a large file of another kind. */
    unsigned char head[8];
    if (size >= 8) {
        if (fread(head, 1, 8, f) != 8 || fseek(f, 0, SEEK_SET) != 0) {
            nn_fail(err, "%s: cannot read: %s", path, ferror(f) ? strerror(errno) : "the file shrank while reading");
            goto fail;
        }
        if (bad_length(path, le64(head), size, err)) goto fail;
    }
    buf = malloc(size + 1);
    if (!buf) {
        nn_fail(err, "%s: out of memory reading %zu bytes", path, size);
        goto fail;
    }
    if (fread(buf, 1, size, f) != size) {
        nn_fail(err, "%s: cannot read: %s", path, ferror(f) ? strerror(errno) : "the file shrank while reading");
        goto fail;
    }
    fclose(f);
    return parse_owned(buf, size, path, err);
fail:
    free(buf);
    fclose(f);
    return NULL;
}

void safetensors_free(SafeTensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) {
        free(st->entries[i].name);
        free(st->entries[i].shape);
    }
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->entries);
    free(st->by_name);
    free(st->buf);
    free(st->label);
    free(st);
}

/* ---- access ---- */

static const Entry *entry(const SafeTensors *st, int i, const char *op) {
    NN_CHECK(st && i >= 0 && i < st->n, op, "tensor index %d out of range (%d tensors)", i, st ? st->n : 0);
    return &st->entries[i];
}

int safetensors_count(const SafeTensors *st) { return st->n; }

int safetensors_find(const SafeTensors *st, const char *name) {
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(st->by_name[mid].name, name);
        if (!c) return st->by_name[mid].index;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

const char *safetensors_name(const SafeTensors *st, int i) { return entry(st, i, "safetensors_name")->name; }

StDtype safetensors_dtype(const SafeTensors *st, int i) { return entry(st, i, "safetensors_dtype")->dtype; }

int safetensors_shape(const SafeTensors *st, int i, const int64_t **shape) {
    const Entry *e = entry(st, i, "safetensors_shape");
    if (shape) *shape = e->shape;
    return e->ndim;
}

const void *safetensors_raw(const SafeTensors *st, int i, size_t *bytes) {
    const Entry *e = entry(st, i, "safetensors_raw");
    if (bytes) *bytes = (size_t)(e->end - e->begin);
    return st->data + e->begin;
}

int safetensors_meta_count(const SafeTensors *st) { return st->n_meta; }

void safetensors_meta_at(const SafeTensors *st, int i, const char **key, const char **value) {
    NN_CHECK(i >= 0 && i < st->n_meta, "safetensors_meta_at", "index %d out of range (%d entries)", i, st->n_meta);
    if (key) *key = st->meta_keys[i];
    if (value) *value = st->meta_values[i];
}

const char *safetensors_meta(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

static const Entry *find_or_fail(const SafeTensors *st, const char *name, NnError *err) {
    int i = safetensors_find(st, name);
    if (i >= 0) return &st->entries[i];
    nn_fail(err, "%s: no tensor named '%s' (the file holds %d tensors)", st->label, quote_name(name).s, st->n);
    return NULL;
}

int safetensors_load_into(const SafeTensors *st, const char *name, Tensor *dst, NnError *err) {
    NN_CHECK(st && name && dst, "safetensors_load_into", "NULL argument");
    const Entry *e = find_or_fail(st, name, err);
    if (!e) return -1;
    if (!shape_equal(e->ndim, e->shape, dst->ndim, dst->shape)) {
        return nn_fail(err, "%s: tensor '%s' has shape %s, but the destination has shape %s", st->label,
                       quote_name(name).s, dims_str(e->ndim, e->shape).s, dims_str(dst->ndim, dst->shape).s);
    }
    if (tensor_is_contiguous(dst)) {
        convert(e->dtype, st->data + e->begin, dst->numel, dst->data);
    } else {
        real *tmp = nn_malloc((size_t)dst->numel * sizeof(real) + 1);
        convert(e->dtype, st->data + e->begin, dst->numel, tmp);
        Tensor src = tensor_wrap(tmp, dst->ndim, dst->shape);
        tensor_copy(dst, &src);
        free(tmp);
    }
    return 0;
}

int safetensors_check_finite(const SafeTensors *st, int i, NnError *err) {
    NN_CHECK(st && i >= 0 && i < st->n, "safetensors_check_finite", "tensor %d of %d", i, st ? st->n : 0);
    const Entry *e = &st->entries[i];
    int size = DTYPES[e->dtype].size;
    int64_t count = (int64_t)((e->end - e->begin) / (uint64_t)size);
    real chunk[1024];
    for (int64_t at = 0; at < count; at += 1024) { /* the values as real: an F64 beyond float range is inf here */
        int64_t n = count - at < 1024 ? count - at : 1024;
        convert(e->dtype, st->data + e->begin + (uint64_t)(at * size), n, chunk);
        for (int64_t k = 0; k < n; k++)
            if (!isfinite(chunk[k]))
                return nn_fail(err, "%s: tensor '%s' holds %s at element %lld; a model with such a weight ranks nothing "
                               "reliably (retrain it)",
                               st->label, quote_name(e->name).s, isnan(chunk[k]) ? "NaN" : "an infinite value",
                               (long long)(at + k));
    }
    return 0;
}

Tensor *safetensors_load(const SafeTensors *st, const char *name, NnError *err) {
    NN_CHECK(st && name, "safetensors_load", "NULL argument");
    const Entry *e = find_or_fail(st, name, err);
    if (!e) return NULL;
    if (e->ndim > TENSOR_MAX_DIMS) {
        nn_fail(err, "%s: tensor '%s' has shape %s, more than the %d dims a Tensor holds", st->label,
                quote_name(name).s, dims_str(e->ndim, e->shape).s, TENSOR_MAX_DIMS);
        return NULL;
    }
    Tensor *t = tensor_zeros(e->ndim, e->shape);
    convert(e->dtype, st->data + e->begin, t->numel, t->data);
    return t;
}
