#include "models/sasrec/data/formats.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/progress.h"
#include "models/sasrec/io/csv.h"
#include "io/utf8.h"

static const char *expected_layout(DataFormat fmt) {
    switch (fmt) {
    case FORMAT_SEQ: return "\"user item item ...\" (seq format)";
    case FORMAT_PAIRS: return "\"user item\" (pairs format)";
    case FORMAT_DAT: return "user::item::rating::time (dat format)";
    case FORMAT_UDATA: return "user<TAB>item<TAB>rating<TAB>time (udata format)";
    default: return "a header, then user, item and time fields (csv format)";
    }
}

static int empty_file(const TextFile *f, NnError *err) {
    return nn_fail(err,
                   "%s is empty (no data lines); expected interactions in one of the formats seq "
                   "(\"user item item ...\"), pairs, csv, dat or udata",
                   f->name);
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* The next whitespace-separated token of p[0..len) from *i: 0 at the end. */
static int next_token(const char *p, size_t len, size_t *i, size_t *start, size_t *tlen) {
    while (*i < len && is_space(p[*i])) (*i)++;
    if (*i >= len) return 0;
    *start = *i;
    while (*i < len && !is_space(p[*i])) (*i)++;
    *tlen = *i - *start;
    return 1;
}

static int64_t count_tokens(const TextLine *l) {
    size_t i = 0, s, n;
    int64_t count = 0;
    while (next_token(l->p, l->len, &i, &s, &n)) count++;
    return count;
}

/* Occurrences of the separator sep (1 or 2 bytes) in the line, plus one. */
static int64_t count_fields(const TextLine *l, const char *sep) {
    size_t k = strlen(sep);
    int64_t n = 1;
    for (size_t i = 0; i + k <= l->len;) {
        if (memcmp(l->p + i, sep, k) == 0)
            n++, i += k;
        else
            i++;
    }
    return n;
}

int formats_detect(const TextFile *f, DataFormat *out, char *why, size_t why_size, NnError *err) {
    LineReader r = textfile_lines(f);
    TextLine first, l;
    if (!textfile_next_nonblank(&r, &first)) return empty_file(f, err);
    long long n = (long long)first.number;
    if (memchr(first.p, ',', first.len)) {
        snprintf(why, why_size, "line %lld has commas", n);
        *out = FORMAT_CSV;
    } else if (count_fields(&first, "::") > 1) {
        snprintf(why, why_size, "line %lld has \"::\"", n);
        *out = FORMAT_DAT;
    } else if (count_fields(&first, "\t") == 4) {
        snprintf(why, why_size, "line %lld has 4 tab-separated fields", n);
        *out = FORMAT_UDATA;
    } else {
        *out = FORMAT_PAIRS;
        snprintf(why, why_size, "every line has 2 tokens");
        for (l = first;;) {
            int64_t k = count_tokens(&l);
            if (k != 2) {
                *out = FORMAT_SEQ;
                snprintf(
                    why, why_size,
                    "no comma, \"::\" or 4 tab-separated fields on line %lld, and line %lld has %lld token%s, not 2", n,
                    (long long)l.number, (long long)k, k == 1 ? "" : "s");
                break;
            }
            if (!textfile_next_nonblank(&r, &l)) break;
        }
    }
    return 0;
}

/* ---- checks shared by the parsers ---- */

typedef struct {
    const TextFile *f;
    DataFormat fmt;
    Interactions *in;
    NnError *err;
} Parser;

static int check_id(Parser *ps, const TextLine *l, size_t len, size_t col, const char *what) {
    if (len > DATASET_MAX_ID_BYTES) /* empty ids are refused before, with the field's name */
        return nn_fail(ps->err, "%s:%lld:%zu: the %s is %zu bytes long; expected an id of at most %d bytes",
                       ps->f->name, (long long)l->number, col, what, len, DATASET_MAX_ID_BYTES);
    return 0;
}

static int check_number(Parser *ps, const TextLine *l, const char *tok, size_t len, size_t col, const char *what,
                        TimeKey *t) {
    TimeKey scratch;
    int rc = timekey_parse(tok, len, t ? t : &scratch);
    if (rc == TIMEKEY_OUT_OF_RANGE)
        return nn_fail(ps->err,
                       "%s:%lld:%zu: the %s \"%s\" is out of range; expected at most 18 digits before the "
                       "decimal point",
                       ps->f->name, (long long)l->number, col, what, utf8_quote(tok, len, 60).s);
    if (rc != TIMEKEY_OK)
        return nn_fail(ps->err,
                       "%s:%lld:%zu: the %s \"%s\" is not a number; expected an integer or a decimal such "
                       "as 964982703 or 4.5 (no NaN, infinity or exponent)",
                       ps->f->name, (long long)l->number, col, what, utf8_quote(tok, len, 60).s);
    return 0;
}

/* Interns the user and item and records the interaction; for seq, a user seen before is an error. */
static int add(Parser *ps, const TextLine *l, const char *user, size_t ulen, const char *item, size_t ilen, TimeKey t,
               int new_user_required) {
    int is_new;
    int32_t u = interactions_user(ps->in, user, ulen, l->number, &is_new);
    int32_t i = interactions_item(ps->in, item, ilen);
    if (u < 0 || i < 0)
        return nn_fail(ps->err, "%s:%lld: more than %d distinct %s; that is the most supported", ps->f->name,
                       (long long)l->number, INT32_MAX - 1, u < 0 ? "users" : "items");
    if (new_user_required && !is_new) {
        return nn_fail(ps->err,
                       "%s:%lld: user \"%s\" has a line already (line %lld); a seq file has one line per user "
                       "(merge the lines, or use --format pairs for one interaction per line)",
                       ps->f->name, (long long)l->number, utf8_quote(user, ulen, 60).s,
                       (long long)ps->in->user_line[u]);
    }
    interactions_add(ps->in, u, i, t);
    return 0;
}

/* ---- seq and pairs: whitespace-separated tokens ---- */

static int parse_seq_line(Parser *ps, const TextLine *l) {
    size_t i = 0, us = 0, ul = 0, s, n; /* the line is not blank: the first token exists */
    next_token(l->p, l->len, &i, &us, &ul);
    if (check_id(ps, l, ul, us + 1, "user id")) return -1;
    TimeKey t = {0, 0};
    int64_t count = 0;
    while (next_token(l->p, l->len, &i, &s, &n)) {
        if (check_id(ps, l, n, s + 1, "item id")) return -1;
        /* only the first item of a line can meet a user seen before */
        if (add(ps, l, l->p + us, ul, l->p + s, n, t, count == 0)) return -1;
        count++;
    }
    if (count == 0) {
        return nn_fail(ps->err, "%s:%lld: user \"%s\" has no items; expected %s", ps->f->name, (long long)l->number,
                       utf8_quote(l->p + us, ul, 60).s, expected_layout(ps->fmt));
    }
    return 0;
}

static int parse_pairs_line(Parser *ps, const TextLine *l) {
    size_t i = 0, s[3], n[3];
    int k = 0;
    while (k < 3 && next_token(l->p, l->len, &i, &s[k], &n[k])) k++;
    if (k != 2)
        return nn_fail(ps->err, "%s:%lld: %s; expected %s", ps->f->name, (long long)l->number,
                       k < 2 ? "only one field" : "more than 2 fields", expected_layout(ps->fmt));
    if (check_id(ps, l, n[0], s[0] + 1, "user id") || check_id(ps, l, n[1], s[1] + 1, "item id")) return -1;
    return add(ps, l, l->p + s[0], n[0], l->p + s[1], n[1], (TimeKey){0, 0}, 0);
}

/* ---- dat and udata: 4 fields with a fixed separator ---- */

static int parse_fields4_line(Parser *ps, const TextLine *l, const char *sep) {
    static const char *names[4] = {"user id", "item id", "rating", "time"};
    size_t k = strlen(sep), start[4], len[4];
    int nf = 0;
    size_t i = 0, field_start = 0;
    for (;;) {
        int at_sep = i + k <= l->len && memcmp(l->p + i, sep, k) == 0;
        if (at_sep || i >= l->len) {
            if (nf == 4)
                return nn_fail(ps->err, "%s:%lld:%zu: more than 4 fields; expected %s", ps->f->name,
                               (long long)l->number, field_start + 1, expected_layout(ps->fmt));
            size_t a = field_start, b = i;
            while (a < b && is_space(l->p[a])) a++;
            while (b > a && is_space(l->p[b - 1])) b--;
            start[nf] = a;
            len[nf] = b - a;
            nf++;
            if (!at_sep) break;
            i += k;
            field_start = i;
        } else {
            i++;
        }
    }
    if (nf < 4)
        return nn_fail(ps->err, "%s:%lld: %d field%s; expected %s", ps->f->name, (long long)l->number, nf,
                       nf == 1 ? "" : "s", expected_layout(ps->fmt));
    for (int f = 0; f < 4; f++)
        if (len[f] == 0)
            return nn_fail(ps->err, "%s:%lld:%zu: the %s (field %d) is empty; expected %s", ps->f->name,
                           (long long)l->number, start[f] + 1, names[f], f + 1, expected_layout(ps->fmt));
    TimeKey t;
    if (check_id(ps, l, len[0], start[0] + 1, "user id") || check_id(ps, l, len[1], start[1] + 1, "item id") ||
        check_number(ps, l, l->p + start[2], len[2], start[2] + 1, "rating (field 3)", NULL) ||
        check_number(ps, l, l->p + start[3], len[3], start[3] + 1, "time (field 4)", &t))
        return -1;
    return add(ps, l, l->p + start[0], len[0], l->p + start[1], len[1], t, 0);
}

/* ---- csv ---- */

#define CSV_MAX_COLUMNS 100000 /* bounds the memory a line of commas can take */

typedef struct {
    int user, item, time; /* column indices */
    int n_fields;
    char header[200]; /* the header, quoted for messages */
} CsvColumns;

static void list_header(const CsvRow *h, char *out, size_t size) {
    size_t o = 0;
    out[0] = '\0';
    for (int f = 0; f < h->n && o + 1 < size; f++) {
        int w = snprintf(out + o, size - o, "%s%s", f ? "," : "", utf8_quote(h->field[f], h->len[f], 40).s);
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* Finds a column by an exact name (given) or by any of the candidate names, case-insensitive. */
static int find_column(Parser *ps, const CsvRow *h, const TextLine *l, const CsvColumns *c, const char *what,
                       const char *given, const char *const *cand, const char *flag) {
    int found = -1;
    for (int f = 0; f < h->n; f++) {
        int match = 0;
        if (given)
            match = strcmp(h->field[f], given) == 0;
        else
            for (int k = 0; cand[k]; k++) match |= strcasecmp(h->field[f], cand[k]) == 0;
        if (!match) continue;
        if (found >= 0)
            return nn_fail(ps->err,
                           "%s:%lld: the header has two %s columns, \"%s\" (column %d) and \"%s\" (column %d); "
                           "choose one with %s",
                           ps->f->name, (long long)l->number, what, h->field[found], found + 1, h->field[f], f + 1,
                           flag);
        found = f;
    }
    if (found < 0) {
        if (given)
            return nn_fail(ps->err, "%s:%lld: the header has no column \"%s\" (%s); its columns are: %s", ps->f->name,
                           (long long)l->number, given, flag, c->header);
        char names[120] = "";
        for (int k = 0; cand[k]; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", cand[k]);
        return nn_fail(ps->err,
                       "%s:%lld: the header has no %s column (looked for %s, in any case); its columns are: "
                       "%s. Name the column with %s (or, if the file has no header, add one)",
                       ps->f->name, (long long)l->number, what, names, c->header, flag);
    }
    return found;
}

static int parse_csv_header(Parser *ps, CsvRow *row, const TextLine *l, const LoadOptions *opt, CsvColumns *c) {
    static const char *const user_names[] = {"user", "userId", NULL};
    static const char *const item_names[] = {"item", "itemId", "movieId", NULL};
    static const char *const time_names[] = {"time", "timestamp", NULL};
    int rc = csv_split(row, l->p, l->len, CSV_MAX_COLUMNS, ps->f->name, l->number, ps->err);
    if (rc == CSV_TOO_MANY_FIELDS)
        return nn_fail(ps->err,
                       "%s:%lld: the header has more than %d columns; expected a CSV header such as "
                       "user,item,time",
                       ps->f->name, (long long)l->number, CSV_MAX_COLUMNS);
    if (rc) return -1;
    list_header(row, c->header, sizeof c->header);
    c->n_fields = row->n;
    c->user = find_column(ps, row, l, c, "user", opt->user_col, user_names, "--user-col");
    if (c->user < 0) return -1;
    c->item = find_column(ps, row, l, c, "item", opt->item_col, item_names, "--item-col");
    if (c->item < 0) return -1;
    c->time = find_column(ps, row, l, c, "time", opt->time_col, time_names, "--time-col");
    if (c->time < 0) return -1;
    if (c->user == c->item || c->user == c->time || c->item == c->time)
        return nn_fail(ps->err, "%s:%lld: the user, item and time columns must differ (got columns %d, %d, %d)",
                       ps->f->name, (long long)l->number, c->user + 1, c->item + 1, c->time + 1);
    return 0;
}

static int parse_csv_line(Parser *ps, CsvRow *row, const TextLine *l, const CsvColumns *c) {
    int rc = csv_split(row, l->p, l->len, c->n_fields, ps->f->name, l->number, ps->err);
    if (rc != 0 && rc != CSV_TOO_MANY_FIELDS) return -1;
    if (row->n != c->n_fields)
        return nn_fail(
            ps->err, "%s:%lld: %s%d field%s; expected %d like the header (%s)%s", ps->f->name, (long long)l->number,
            rc ? "more than " : "", rc ? c->n_fields : row->n, !rc && row->n == 1 ? "" : "s", c->n_fields, c->header,
            row->n < c->n_fields ? ": fields are missing" : ": there are extra fields (quote ids that hold commas)");
    int cols[3] = {c->user, c->item, c->time};
    const char *what[3] = {"user id", "item id", "time"};
    for (int k = 0; k < 3; k++) {
        int f = cols[k];
        if (row->len[f] == 0)
            return nn_fail(ps->err, "%s:%lld:%zu: the %s (column %d) is empty; expected a value", ps->f->name,
                           (long long)l->number, row->col[f], what[k], f + 1);
    }
    TimeKey t;
    char what_time[64];
    snprintf(what_time, sizeof what_time, "time (column %d)", c->time + 1);
    if (check_id(ps, l, row->len[c->user], row->col[c->user], "user id") ||
        check_id(ps, l, row->len[c->item], row->col[c->item], "item id") ||
        check_number(ps, l, row->field[c->time], row->len[c->time], row->col[c->time], what_time, &t))
        return -1;
    return add(ps, l, row->field[c->user], row->len[c->user], row->field[c->item], row->len[c->item], t, 0);
}

int formats_parse(const TextFile *f, DataFormat fmt, const LoadOptions *opt, Interactions *in, NnError *err) {
    NN_CHECK(fmt != FORMAT_AUTO, "formats_parse", "detect the format first");
    Parser ps = {.f = f, .fmt = fmt, .in = in, .err = err};
    LineReader r = textfile_lines(f);
    TextLine l;
    CsvRow row = {0};
    CsvColumns cols;
    int rc = 0;
    if (fmt == FORMAT_CSV) {
        if (!textfile_next_nonblank(&r, &l)) return empty_file(f, err);
        rc = parse_csv_header(&ps, &row, &l, opt, &cols);
    }
    Progress bar; /* in KiB of the file */
    progress_start(&bar, "loading", "KiB", (int64_t)(f->size >> 10));
    while (rc == 0 && textfile_next_nonblank(&r, &l)) {
        if ((++in->n_lines & 0xfff) == 0) progress_update(&bar, (int64_t)(r.pos >> 10), NULL);
        switch (fmt) {
        case FORMAT_SEQ: rc = parse_seq_line(&ps, &l); break;
        case FORMAT_PAIRS: rc = parse_pairs_line(&ps, &l); break;
        case FORMAT_DAT: rc = parse_fields4_line(&ps, &l, "::"); break;
        case FORMAT_UDATA: rc = parse_fields4_line(&ps, &l, "\t"); break;
        default: rc = parse_csv_line(&ps, &row, &l, &cols); break;
        }
    }
    progress_end(&bar);
    csv_free(&row);
    if (rc) return -1;
    if (in->n_lines == 0) {
        if (fmt == FORMAT_CSV)
            return nn_fail(err, "%s has a header but no data rows; expected rows of %s after the header", f->name,
                           cols.header);
        return empty_file(f, err);
    }
    return 0;
}
