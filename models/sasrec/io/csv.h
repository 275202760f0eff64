/* Splitting one CSV line into fields (RFC 4180 quoting, one line per record).
 *
 * Fields are separated by commas. A field may be quoted: "a,b" holds a comma
 * and "" stands for one quote. Spaces and tabs around a field (quoted or not)
 * are dropped. Refused, with the line and column: a quote inside an unquoted
 * field, text after a closing quote, and a quote not closed on its line (a
 * newline inside a quoted field is not supported). */
#ifndef NN_MODELS_SASREC_IO_CSV_H
#define NN_MODELS_SASREC_IO_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    int n;        /* fields on the last line split */
    char **field; /* (n) NUL-terminated, unquoted; point into buf */
    size_t *len;  /* (n) lengths */
    size_t *col;  /* (n) 1-based byte column where each field starts */
    char *buf;    /* (cap) storage of the fields */
    size_t cap;
    int field_cap;
} CsvRow;

enum { CSV_TOO_MANY_FIELDS = -2 };

/* Splits line p[0..len) (no line end) into row; -1 with "NAME:LINE:COL: ..." on a quoting error;
 * CSV_TOO_MANY_FIELDS (no message, row->n = max_fields + 1) as soon as the line has more than max_fields. */
int csv_split(CsvRow *row, const char *p, size_t len, int max_fields, const char *name, int64_t line, NnError *err);
/* Releases the row's storage. */
void csv_free(CsvRow *row);

#endif
