#include "models/sasrec/io/textfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "io/utf8.h"

/* The bytes of the file at path into out (owned), with or without a leading byte order mark skipped. */
static int read_whole(const char *path, int skip_bom, TextFile *out, NnError *err) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return nn_fail(err, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, size = 0;
    char *buf = nn_malloc(cap);
    for (;;) {
        if (size == cap) buf = nn_realloc(buf, cap *= 2);
        size_t got = fread(buf + size, 1, cap - size, fp);
        size += got;
        if (got == 0) break;
    }
    int failed = ferror(fp);
    int saved = errno;
    fclose(fp);
    if (failed) {
        free(buf);
        return nn_fail(err, "cannot read %s: %s", path, strerror(saved));
    }
    if (skip_bom)
        textfile_wrap(path, buf, size, out);
    else
        textfile_wrap_exact(path, buf, size, out);
    out->owned = buf;
    return 0;
}

int textfile_read(const char *path, TextFile *out, NnError *err) { return read_whole(path, 1, out, err); }

int textfile_read_exact(const char *path, TextFile *out, NnError *err) { return read_whole(path, 0, out, err); }

void textfile_wrap(const char *name, const char *data, size_t size, TextFile *out) {
    if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) data += 3, size -= 3;
    textfile_wrap_exact(name, data, size, out);
}

void textfile_wrap_exact(const char *name, const char *data, size_t size, TextFile *out) {
    out->name = name;
    out->owned = NULL;
    out->data = data;
    out->size = size;
}

void textfile_free(TextFile *f) {
    free(f->owned);
    f->owned = NULL;
}

int textfile_check(const TextFile *f, NnError *err) {
    const unsigned char *p = (const unsigned char *)f->data;
    size_t n = f->size, line_start = 0;
    int64_t line = 1;
    for (size_t i = 0; i < n;) {
        unsigned b = p[i];
        if (b >= 0x20 && b < 0x7F) { /* the common case */
            i++;
            continue;
        }
        long long col = (long long)(i - line_start + 1);
        if (b == '\n') {
            line++;
            line_start = ++i;
        } else if (b == '\t') {
            i++;
        } else if (b == '\r') {
            if (i + 1 < n && p[i + 1] != '\n')
                return nn_fail(err,
                               "%s:%lld:%lld: a carriage return inside a line (old Mac line ends?); "
                               "expected lines ending in LF or CRLF",
                               f->name, (long long)line, col);
            i++;
        } else if (b == 0) {
            return nn_fail(err, "%s:%lld:%lld: a NUL byte: this looks like a binary file; expected UTF-8 text", f->name,
                           (long long)line, col);
        } else if (b < 0x80) {
            return nn_fail(err, "%s:%lld:%lld: control character 0x%02X; expected printable UTF-8 text", f->name,
                           (long long)line, col, b);
        } else {
            size_t len = utf8_seq_len(p + i, n - i);
            if (!len)
                return nn_fail(err,
                               "%s:%lld:%lld: invalid UTF-8 (byte 0x%02X); expected UTF-8 text "
                               "(convert it, e.g. with iconv)",
                               f->name, (long long)line, col, b);
            if (len == 2 && b == 0xC2 && p[i + 1] < 0xA0)
                return nn_fail(err, "%s:%lld:%lld: control character U+%04X; expected printable UTF-8 text", f->name,
                               (long long)line, col, p[i + 1]);
            i += len;
        }
    }
    return 0;
}

LineReader textfile_lines(const TextFile *f) { return (LineReader){.file = f, .pos = 0, .number = 0}; }

/* The next line (blank ones included); 0 at the end of the file. */
static int next_line(LineReader *r, TextLine *line) {
    const TextFile *f = r->file;
    if (r->pos >= f->size) return 0;
    const char *start = f->data + r->pos;
    size_t left = f->size - r->pos;
    const char *nl = memchr(start, '\n', left);
    size_t len = nl ? (size_t)(nl - start) : left;
    r->pos += nl ? len + 1 : len;
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t' || start[len - 1] == '\r')) len--;
    line->p = start;
    line->len = len;
    line->number = ++r->number;
    return 1;
}

/* Whether the line holds nothing but spaces and tabs. */
static int blank(const TextLine *line) {
    for (size_t i = 0; i < line->len; i++)
        if (line->p[i] != ' ' && line->p[i] != '\t') return 0;
    return 1;
}

int textfile_next_nonblank(LineReader *r, TextLine *line) {
    while (next_line(r, line))
        if (!blank(line)) return 1;
    return 0;
}
