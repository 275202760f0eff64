#include "models/sasrec/io/csv.h"

#include <stdlib.h>
#include <string.h>

#include "base/memory.h"

static int is_space(char c) { return c == ' ' || c == '\t'; }

static void push_field(CsvRow *row, size_t start, size_t end, size_t col) {
    if (row->n == row->field_cap) {
        row->field_cap = row->field_cap ? 2 * row->field_cap : 16;
        row->field = nn_realloc(row->field, (size_t)row->field_cap * sizeof *row->field);
        row->len = nn_realloc(row->len, (size_t)row->field_cap * sizeof *row->len);
        row->col = nn_realloc(row->col, (size_t)row->field_cap * sizeof *row->col);
    }
    row->buf[end] = '\0';
    row->field[row->n] = row->buf + start;
    row->len[row->n] = end - start;
    row->col[row->n] = col;
    row->n++;
}

int csv_split(CsvRow *row, const char *p, size_t len, int max_fields, const char *name, int64_t line, NnError *err) {
    /* the unquoted text is never longer than the line, plus one NUL per field */
    if (row->cap < 2 * len + 2) {
        row->cap = 2 * len + 2;
        free(row->buf);
        row->buf = nn_malloc(row->cap);
    }
    row->n = 0;
    size_t i = 0, o = 0;
    for (;;) {
        while (i < len && is_space(p[i])) i++;
        size_t start = o, col = i + 1;
        if (i < len && p[i] == '"') {
            for (i++;; i++) {
                if (i >= len)
                    return nn_fail(err,
                                   "%s:%lld:%zu: a quoted field is not closed on its line; expected a closing "
                                   "quote (newlines inside quoted fields are not supported)",
                                   name, (long long)line, col);
                if (p[i] == '"') {
                    if (i + 1 < len && p[i + 1] == '"')
                        i++;
                    else
                        break;
                }
                row->buf[o++] = p[i];
            }
            for (i++; i < len && is_space(p[i]);) i++;
            if (i < len && p[i] != ',')
                return nn_fail(err, "%s:%lld:%zu: text after the closing quote of a field; expected a comma", name,
                               (long long)line, i + 1);
        } else {
            size_t end = o;
            for (; i < len && p[i] != ','; i++) {
                if (p[i] == '"')
                    return nn_fail(err,
                                   "%s:%lld:%zu: a quote inside an unquoted field; expected the whole field in "
                                   "quotes, with inner quotes doubled (\"a\"\"b\")",
                                   name, (long long)line, i + 1);
                row->buf[o++] = p[i];
                if (!is_space(p[i])) end = o;
            }
            o = end; /* drop trailing spaces */
        }
        push_field(row, start, o, col);
        if (row->n > max_fields) return CSV_TOO_MANY_FIELDS;
        o++;
        if (i >= len) break;
        i++; /* the comma */
    }
    return 0;
}

void csv_free(CsvRow *row) {
    free(row->field);
    free(row->len);
    free(row->col);
    free(row->buf);
    memset(row, 0, sizeof *row);
}
