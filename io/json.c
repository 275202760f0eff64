#include "io/json.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "io/utf8.h"

struct Json {
    JsonType type;
    size_t offset; /* where the value begins in the input */
    size_t len;    /* string: decoded bytes; number: text bytes; array: elements; object: members; bool: 0/1 */
    union {
        const char *text; /* string (decoded) or number (as written), NUL-terminated */
        Json *items;      /* array: len values; object: 2 * len values, key then value */
    } u;
};

/* Values and strings come from a chain of blocks that json_free releases together. */
typedef struct Block {
    struct Block *next;
    size_t used, cap;
    max_align_t data[]; /* cap bytes */
} Block;

struct JsonDoc {
    Block *blocks;
    Json root;
};

#define BLOCK_FIRST 1024
#define BLOCK_MAX   ((size_t)1 << 20)

static void *doc_alloc(JsonDoc *d, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    Block *b = d->blocks;
    if (!b || b->cap - b->used < bytes) {
        size_t cap = b ? (b->cap < BLOCK_MAX ? 2 * b->cap : BLOCK_MAX) : BLOCK_FIRST;
        if (cap < bytes) cap = bytes;
        Block *nb = nn_malloc(sizeof(Block) + cap);
        nb->used = 0;
        nb->cap = cap;
        /* A block made for one large request goes behind the current one, so the
         * current block's free space stays in use. */
        if (b && cap == bytes && b->cap - b->used >= 256) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            d->blocks = nb;
        }
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += bytes;
    return p;
}

/* ---- parser ---- */

typedef struct {
    JsonType type; /* JSON_ARRAY or JSON_OBJECT */
    size_t offset; /* of its '[' or '{' */
    size_t first;  /* index in vals of its first child */
} Frame;

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    JsonDoc *doc;
    NnError *err;
    Json *vals; /* finished values waiting for their container to close */
    size_t nv, cap_v;
    Frame *frames; /* open containers, innermost last */
    int depth, cap_f, max_depth;
    char *scratch; /* the string being decoded */
    size_t cap_s;
} Parser;

static int bad(Parser *ps, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(Parser *ps, size_t at, const char *fmt, ...) {
    char m[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return nn_fail(ps->err, "JSON at byte %zu: %s", at, m);
}

static int expected(Parser *ps, size_t at, const char *what) {
    char found[32];
    if (at >= ps->len)
        snprintf(found, sizeof found, "end of input");
    else if (ps->p[at] >= 0x20 && ps->p[at] < 0x7F)
        snprintf(found, sizeof found, "'%c'", ps->p[at]);
    else
        snprintf(found, sizeof found, "byte 0x%02X", ps->p[at]);
    return bad(ps, at, "expected %s, found %s", what, found);
}

static void skip_ws(Parser *ps) {
    while (ps->pos < ps->len) {
        unsigned char c = ps->p[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->pos++;
    }
}

static void push_value(Parser *ps, Json v) {
    if (ps->nv == ps->cap_v) {
        ps->cap_v = ps->cap_v ? 2 * ps->cap_v : 64;
        ps->vals = nn_realloc(ps->vals, ps->cap_v * sizeof *ps->vals);
    }
    ps->vals[ps->nv++] = v;
}

static char *copy_text(Parser *ps, const char *s, size_t n) {
    char *t = doc_alloc(ps->doc, n + 1);
    if (n) memcpy(t, s, n);
    t[n] = '\0';
    return t;
}

static void scratch_put(Parser *ps, size_t *n, const void *bytes, size_t k) {
    if (*n + k > ps->cap_s) {
        while (*n + k > ps->cap_s) ps->cap_s = ps->cap_s ? 2 * ps->cap_s : 256;
        ps->scratch = nn_realloc(ps->scratch, ps->cap_s);
    }
    memcpy(ps->scratch + *n, bytes, k);
    *n += k;
}

/* 1 and *out = the value if the 4 bytes at p (n available) are hex digits. */
static int hex4(const unsigned char *p, size_t n, unsigned *out) {
    if (n < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

/* The string whose opening quote is at pos, decoded into a JSON_STRING value. */
static int parse_string(Parser *ps, Json *out) {
    const unsigned char *p = ps->p;
    size_t start = ps->pos, i = start + 1, n = 0;
    for (;;) {
        if (i >= ps->len) return bad(ps, start, "unterminated string: no closing '\"' before the end of input");
        unsigned c = p[i];
        if (c == '"') break;
        if (c < 0x20)
            return bad(ps, i, "control character 0x%02X inside a string (write it as the escape \\u%04X)", c, c);
        if (c != '\\') {
            size_t run = i; /* copy a run of plain ASCII at once */
            while (run < ps->len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\') run++;
            if (run > i) {
                scratch_put(ps, &n, p + i, run - i);
                i = run;
                continue;
            }
            size_t k = utf8_seq_len(p + i, ps->len - i);
            if (!k) return bad(ps, i, "invalid UTF-8 (byte 0x%02X) inside a string", c);
            scratch_put(ps, &n, p + i, k);
            i += k;
            continue;
        }
        if (i + 1 >= ps->len) return bad(ps, start, "unterminated string: no closing '\"' before the end of input");
        unsigned char ch;
        switch (p[i + 1]) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(p + i + 2, ps->len - (i + 2), &cp))
                return bad(ps, i, "the escape \\u must be followed by four hex digits");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return bad(ps, i, "lone low surrogate \\u%04X (it must follow a high surrogate \\uD800-\\uDBFF)", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                size_t j = i + 6;
                if (!(j + 1 < ps->len && p[j] == '\\' && p[j + 1] == 'u' && hex4(p + j + 2, ps->len - (j + 2), &lo) &&
                      lo >= 0xDC00 && lo <= 0xDFFF))
                    return bad(ps, i,
                               "lone high surrogate \\u%04X (it must be followed by a low surrogate \\uDC00-\\uDFFF)",
                               cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            unsigned char enc[4];
            scratch_put(ps, &n, enc, utf8_encode(cp, enc));
            i += 6;
            continue;
        }
        default: {
            unsigned e = p[i + 1];
            if (e >= 0x20 && e < 0x7F)
                return bad(ps, i, "invalid escape '\\%c' (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", e);
            return bad(ps, i, "invalid escape: byte 0x%02X after '\\'", e);
        }
        }
        scratch_put(ps, &n, &ch, 1);
        i += 2;
    }
    out->type = JSON_STRING;
    out->offset = start;
    out->len = n;
    out->u.text = copy_text(ps, ps->scratch, n);
    ps->pos = i + 1;
    return 0;
}

static int is_digit(Parser *ps, size_t i) { return i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9'; }

/* The number at pos (RFC 8259 grammar), kept as text. */
static int parse_number(Parser *ps, Json *out) {
    size_t start = ps->pos, i = start;
    if (ps->p[i] == '-') i++;
    if (!is_digit(ps, i)) return expected(ps, i, "a digit after '-'");
    if (ps->p[i] == '0') {
        i++;
        if (is_digit(ps, i)) return bad(ps, start, "leading zeros are not allowed in numbers");
    } else {
        while (is_digit(ps, i)) i++;
    }
    if (i < ps->len && ps->p[i] == '.') {
        i++;
        if (!is_digit(ps, i)) return expected(ps, i, "a digit after the decimal point");
        while (is_digit(ps, i)) i++;
    }
    if (i < ps->len && (ps->p[i] == 'e' || ps->p[i] == 'E')) {
        i++;
        if (i < ps->len && (ps->p[i] == '+' || ps->p[i] == '-')) i++;
        if (!is_digit(ps, i)) return expected(ps, i, "a digit in the exponent");
        while (is_digit(ps, i)) i++;
    }
    out->type = JSON_NUMBER;
    out->offset = start;
    out->len = i - start;
    out->u.text = copy_text(ps, (const char *)ps->p + start, i - start);
    ps->pos = i;
    return 0;
}

static int parse_literal(Parser *ps, Json *out) {
    static const struct {
        const char *word;
        JsonType type;
        size_t value;
    } lits[] = {{"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0}};
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t n = strlen(lits[k].word);
        if (ps->len - ps->pos >= n && memcmp(ps->p + ps->pos, lits[k].word, n) == 0) {
            out->type = lits[k].type;
            out->offset = ps->pos;
            out->len = lits[k].value;
            out->u.text = NULL;
            ps->pos += n;
            return 0;
        }
    }
    return expected(ps, ps->pos, "a value (object, array, string, number, true, false or null)");
}

/* An object key, the ':' after it and the whitespace around. */
static int parse_key(Parser *ps) {
    if (ps->pos >= ps->len || ps->p[ps->pos] != '"') return expected(ps, ps->pos, "a string key in double quotes");
    Json key;
    if (parse_string(ps, &key)) return -1;
    push_value(ps, key);
    skip_ws(ps);
    if (ps->pos >= ps->len || ps->p[ps->pos] != ':') return expected(ps, ps->pos, "':' after an object key");
    ps->pos++;
    skip_ws(ps);
    return 0;
}

static int cmp_key(const void *a, const void *b) {
    const Json *x = *(const Json *const *)a, *y = *(const Json *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->u.text, y->u.text, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int duplicate_key(Parser *ps, const Json *first, const Json *second) {
    return bad(ps, second->offset, "duplicate key \"%s\" in an object (first at byte %zu)",
               utf8_quote(second->u.text, second->len, UTF8_QUOTE_MAX).s, first->offset);
}

/* Members (key, value pairs) of an object must have distinct keys. */
static int check_unique_keys(Parser *ps, const Json *items, size_t m) {
    if (m <= 16) {
        for (size_t j = 1; j < m; j++)
            for (size_t i = 0; i < j; i++) {
                const Json *a = &items[2 * i], *b = &items[2 * j];
                if (a->len == b->len && memcmp(a->u.text, b->u.text, a->len) == 0) return duplicate_key(ps, a, b);
            }
        return 0;
    }
    const Json **keys = nn_malloc(m * sizeof *keys);
    for (size_t i = 0; i < m; i++) keys[i] = &items[2 * i];
    qsort(keys, m, sizeof *keys, cmp_key);
    int rc = 0;
    for (size_t i = 1; i < m && !rc; i++)
        if (keys[i - 1]->len == keys[i]->len && memcmp(keys[i - 1]->u.text, keys[i]->u.text, keys[i]->len) == 0)
            rc = duplicate_key(ps, keys[i - 1], keys[i]);
    free(keys);
    return rc;
}

/* Ends the innermost container: its children move from the stack into the document. */
static int close_container(Parser *ps) {
    Frame f = ps->frames[--ps->depth];
    size_t n = ps->nv - f.first;
    Json v = {.type = f.type, .offset = f.offset, .len = f.type == JSON_OBJECT ? n / 2 : n};
    v.u.items = n ? doc_alloc(ps->doc, n * sizeof(Json)) : NULL;
    if (n) memcpy(v.u.items, ps->vals + f.first, n * sizeof(Json));
    ps->nv = f.first;
    if (f.type == JSON_OBJECT && check_unique_keys(ps, v.u.items, v.len)) return -1;
    push_value(ps, v);
    return 0;
}

static int open_container(Parser *ps, JsonType type) {
    if (ps->depth >= ps->max_depth) return bad(ps, ps->pos, "nesting deeper than %d levels", ps->max_depth);
    if (ps->depth == ps->cap_f) {
        ps->cap_f = ps->cap_f ? 2 * ps->cap_f : 16;
        ps->frames = nn_realloc(ps->frames, (size_t)ps->cap_f * sizeof *ps->frames);
    }
    ps->frames[ps->depth++] = (Frame){type, ps->pos, ps->nv};
    ps->pos++;
    skip_ws(ps);
    return 0;
}

/* The whole input: a loop over values with an explicit stack of open containers. */
static int parse_document(Parser *ps) {
    skip_ws(ps);
    for (;;) {
        /* A value begins at pos. */
        if (ps->pos >= ps->len) return expected(ps, ps->pos, "a value");
        unsigned char c = ps->p[ps->pos];
        int done = 0; /* whether a value was completed (else a container was opened) */
        if (c == '{' || c == '[') {
            if (open_container(ps, c == '{' ? JSON_OBJECT : JSON_ARRAY)) return -1;
            if (ps->pos < ps->len && ps->p[ps->pos] == (c == '{' ? '}' : ']')) {
                ps->pos++;
                if (close_container(ps)) return -1;
                done = 1;
            } else if (c == '{' && parse_key(ps)) {
                return -1;
            }
        } else {
            Json v;
            int rc = c == '"'                             ? parse_string(ps, &v)
                     : c == '-' || (c >= '0' && c <= '9') ? parse_number(ps, &v)
                                                          : parse_literal(ps, &v);
            if (rc) return -1;
            push_value(ps, v);
            done = 1;
        }
        /* After a completed value: a separator, a closing bracket, or the end. */
        while (done) {
            skip_ws(ps);
            if (ps->depth == 0) {
                if (ps->pos != ps->len) return expected(ps, ps->pos, "the end of input after the top-level value");
                ps->doc->root = ps->vals[0];
                return 0;
            }
            const Frame *f = &ps->frames[ps->depth - 1];
            char close = f->type == JSON_OBJECT ? '}' : ']';
            if (ps->pos < ps->len && ps->p[ps->pos] == ',') {
                size_t comma = ps->pos++;
                skip_ws(ps);
                if (ps->pos < ps->len && ps->p[ps->pos] == close)
                    return bad(ps, comma, "trailing comma before '%c'", close);
                if (f->type == JSON_OBJECT && parse_key(ps)) return -1;
                done = 0;
            } else if (ps->pos < ps->len && ps->p[ps->pos] == close) {
                ps->pos++;
                if (close_container(ps)) return -1;
            } else {
                return expected(ps, ps->pos,
                                f->type == JSON_OBJECT ? "',' or '}' after an object member"
                                                       : "',' or ']' after an array element");
            }
        }
    }
}

JsonDoc *json_parse(const char *buf, size_t len, const JsonLimits *limits, NnError *err) {
    NN_CHECK(buf || !len, "json_parse", "NULL buffer of %zu bytes", len);
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : JSON_DEFAULT_MAX_BYTES;
    int max_depth = limits && limits->max_depth > 0 ? limits->max_depth : JSON_DEFAULT_MAX_DEPTH;
    if (len > max_bytes) {
        nn_fail(err, "JSON input is %zu bytes, more than the limit of %zu", len, max_bytes);
        return NULL;
    }
    Parser ps = {.p = (const unsigned char *)buf, .len = len, .err = err, .max_depth = max_depth};
    ps.doc = nn_calloc(1, sizeof *ps.doc);
    int rc = parse_document(&ps);
    free(ps.vals);
    free(ps.frames);
    free(ps.scratch);
    if (rc) {
        json_free(ps.doc);
        return NULL;
    }
    return ps.doc;
}

const Json *json_root(const JsonDoc *doc) { return doc ? &doc->root : NULL; }

void json_free(JsonDoc *doc) {
    if (!doc) return;
    for (Block *b = doc->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(doc);
}

/* ---- accessors ---- */

JsonType json_type(const Json *v) { return v ? v->type : JSON_NULL; }

const char *json_type_name(JsonType t) {
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "unknown";
}

size_t json_offset(const Json *v) { return v ? v->offset : 0; }

size_t json_count(const Json *v) { return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->len : 0; }

const Json *json_at(const Json *v, size_t i) {
    return v && v->type == JSON_ARRAY && i < v->len ? &v->u.items[i] : NULL;
}

const char *json_key_at(const Json *v, size_t i, size_t *len) {
    if (!v || v->type != JSON_OBJECT || i >= v->len) return NULL;
    if (len) *len = v->u.items[2 * i].len;
    return v->u.items[2 * i].u.text;
}

const Json *json_value_at(const Json *v, size_t i) {
    return v && v->type == JSON_OBJECT && i < v->len ? &v->u.items[2 * i + 1] : NULL;
}

const Json *json_get(const Json *v, const char *key) {
    if (!v || v->type != JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < v->len; i++) {
        const Json *k = &v->u.items[2 * i];
        if (k->len == n && memcmp(k->u.text, key, n) == 0) return &v->u.items[2 * i + 1];
    }
    return NULL;
}

const char *json_string(const Json *v, size_t *len) {
    if (!v || v->type != JSON_STRING) return NULL;
    if (len) *len = v->len;
    return v->u.text;
}

const char *json_number_text(const Json *v) { return v && v->type == JSON_NUMBER ? v->u.text : NULL; }

int json_int64(const Json *v, int64_t *out) {
    if (!v || v->type != JSON_NUMBER) return -1;
    const char *s = v->u.text;
    size_t i = s[0] == '-';
    int neg = (int)i;
    /* The largest magnitude allowed: 2^63 for a negative number, 2^63 - 1 otherwise. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, acc = 0;
    for (; i < v->len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1; /* a fraction or an exponent */
        unsigned d = (unsigned)(s[i] - '0');
        if (acc > (limit - d) / 10) return -1;
        acc = acc * 10 + d;
    }
    *out = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    return 0;
}

int json_double(const Json *v, double *out) {
    if (!v || v->type != JSON_NUMBER) return -1;
    /* strtod reads the locale's decimal point; JSON's is always '.'. */
    const char *dp = localeconv()->decimal_point;
    char *copy = NULL;
    const char *s = v->u.text;
    if (strcmp(dp, ".") != 0) {
        size_t dl = strlen(dp);
        copy = nn_malloc(v->len + dl + 1);
        size_t o = 0;
        for (size_t i = 0; i < v->len; i++) {
            if (s[i] == '.') {
                memcpy(copy + o, dp, dl);
                o += dl;
            } else {
                copy[o++] = s[i];
            }
        }
        copy[o] = '\0';
        s = copy;
    }
    char *end;
    double d = strtod(s, &end);
    int ok = *end == '\0' && isfinite(d);
    free(copy);
    if (!ok) return -1;
    *out = d;
    return 0;
}

int json_bool(const Json *v, int *out) {
    if (!v || v->type != JSON_BOOL) return -1;
    *out = (int)v->len;
    return 0;
}

/* ---- writing ---- */

int json_write_string(FILE *f, const char *s, size_t len, NnError *err) {
    size_t ok = utf8_valid_len(s, len);
    if (ok != len)
        return nn_fail(err, "cannot write a JSON string: byte %zu (0x%02X) is not valid UTF-8", ok,
                       (unsigned char)s[ok]);
    putc('"', f);
    size_t run = 0; /* start of the bytes not yet written */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        fwrite(s + run, 1, i - run, f);
        run = i + 1;
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default: fprintf(f, "\\u%04X", c); break;
        }
    }
    fwrite(s + run, 1, len - run, f);
    putc('"', f);
    if (ferror(f)) return nn_fail(err, "writing a JSON string failed: %s", strerror(errno));
    return 0;
}
