/* Reading a whole file that must be a regular file of bounded size: the
 * files of a model folder. The file is opened without blocking and checked
 * with fstat before a byte is read, so that a FIFO is refused instead of
 * waited on forever, and a link to /dev/zero (a device) or a file larger than
 * the bound is refused instead of exhausting memory. */
#ifndef NN_MODELS_SASREC_IO_REGULAR_FILE_H
#define NN_MODELS_SASREC_IO_REGULAR_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "models/sasrec/io/sha256.h"

/* Reads the regular file at path, of at most max_bytes, into a new buffer
 * (*data, freed by the caller, with a NUL after its *len bytes). -1 and a
 * message naming the path, what it is and the bound otherwise; a failed
 * allocation sets err->resource. */
int regular_file_read(const char *path, uint64_t max_bytes, char **data, size_t *len, NnError *err);
/* The size of the regular file at path, checked as above without reading it; -1 and a message otherwise. */
int regular_file_size(const char *path, uint64_t max_bytes, uint64_t *size, NnError *err);

/* The SHA-256 of the regular file at path, checked as above and read in pieces; -1 and a message otherwise. */
int regular_file_sha256(const char *path, uint64_t max_bytes, Sha256Hex *out, NnError *err);

/* The *_at forms read the file name inside the folder open as dirfd (openat; AT_FDCWD: the current folder),
 * with path standing for it in messages: the files of a folder opened once all come from that folder,
 * whatever is renamed meanwhile (a model folder replaced while it loads). */

/* regular_file_read of name relative to dirfd. */
int regular_file_read_at(int dirfd, const char *name, const char *path, uint64_t max_bytes, char **data,
                         size_t *len, NnError *err);
/* regular_file_size of name relative to dirfd. */
int regular_file_size_at(int dirfd, const char *name, const char *path, uint64_t max_bytes, uint64_t *size,
                         NnError *err);
/* regular_file_sha256 of name relative to dirfd. */
int regular_file_sha256_at(int dirfd, const char *name, const char *path, uint64_t max_bytes, Sha256Hex *out,
                           NnError *err);

#endif
