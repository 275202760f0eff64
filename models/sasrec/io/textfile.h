/* Text input files: read whole into memory, checked once, walked line by line.
 *
 * Every data file (interactions, sample files, id lists) goes through here, so
 * the byte-level rules are the same everywhere: a leading UTF-8 byte order
 * mark is skipped (a property of a file's start, set by the editor that saved
 * it; the files this program writes itself are read exactly, so that an id
 * that begins with U+FEFF survives them); lines end with LF or CRLF; NUL bytes, invalid UTF-8 and
 * control characters (other than tab) are refused with the line and column.
 * Lines may be of any length. Line numbers count from 1 and include blank
 * lines, so they match what an editor shows. */
#ifndef NN_MODELS_SASREC_IO_TEXTFILE_H
#define NN_MODELS_SASREC_IO_TEXTFILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    const char *name; /* for messages: the path, or the name given to textfile_wrap */
    const char *data; /* (size) the bytes after any byte order mark (all of them: _exact); not NUL-terminated */
    size_t size;
    char *owned; /* the buffer read by textfile_read, else NULL */
} TextFile;

typedef struct {
    const char *p; /* (len) the line without its line end and trailing spaces, tabs, CRs */
    size_t len;
    int64_t number; /* 1-based line number */
} TextLine;

typedef struct {
    const TextFile *file;
    size_t pos;     /* offset of the next line */
    int64_t number; /* number of the last line returned */
} LineReader;

/* Reads the file at path into out; -1 with "cannot open/read PATH: reason" on failure. */
int textfile_read(const char *path, TextFile *out, NnError *err);
/* textfile_read keeping a leading byte order mark as the start of the first line: for files this program
 * wrote (id lists), whose first line may be an id that begins with U+FEFF. */
int textfile_read_exact(const char *path, TextFile *out, NnError *err);
/* Wraps bytes already in memory (not copied; not freed by textfile_free), a leading byte order mark skipped. */
void textfile_wrap(const char *name, const char *data, size_t size, TextFile *out);
/* textfile_wrap keeping a leading byte order mark (see textfile_read_exact). */
void textfile_wrap_exact(const char *name, const char *data, size_t size, TextFile *out);
/* Releases what textfile_read allocated. */
void textfile_free(TextFile *f);
/* Refuses NUL bytes, invalid UTF-8, control characters and lone CRs, naming line and column. */
int textfile_check(const TextFile *f, NnError *err);

/* A reader positioned before the first line. */
LineReader textfile_lines(const TextFile *f);
/* The next non-blank line; 0 at the end of the file. */
int textfile_next_nonblank(LineReader *r, TextLine *line);

#endif
