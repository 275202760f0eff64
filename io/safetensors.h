/* safetensors: the tensor file format of Hugging Face, read and written.
 *
 * Layout: an 8-byte little-endian header length N; N bytes of a JSON object
 * mapping each tensor name to {"dtype": "F32", "shape": [2, 3],
 * "data_offsets": [begin, end]}, plus an optional "__metadata__" object of
 * string values, padded at its end with spaces; then the data section, each
 * tensor's raw little-endian row-major bytes at [begin, end) relative to the
 * section's start. The tensors tile the section exactly: no gaps, no
 * overlaps, no trailing bytes.
 *
 * The reader trusts nothing in a file: every refusal returns NULL or -1 with
 * a message naming the file, the tensor and the numbers involved. Reading
 * checks the whole header up front, so that loading afterwards can only fail
 * on a shape the caller did not expect.
 *
 * Loading converts any dtype to real: floats exactly (F16 and BF16 too,
 * subnormals, inf and NaN payloads included); what a real cannot hold exactly
 * (integers past 2^24 and F64 in the float build) is rounded to nearest; BOOL
 * gives 0 or 1 (any nonzero byte is 1).
 *
 * The writer stores every tensor as F32 in row-major order whatever its
 * strides, in the order given (the header lists them in that order too), pads
 * the header with spaces so that the data section begins at a multiple of 8,
 * and replaces the file atomically (io/atomic_file.h). Tensor names must be
 * unique, non-empty and not "__metadata__", metadata keys unique: anything
 * else is a programming error and aborts. A name, key or value that is not
 * UTF-8 cannot be stored in JSON and is returned as an error. */
#ifndef NN_IO_SAFETENSORS_H
#define NN_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "tensor/tensor.h"

/* Element types of the format. */
typedef enum StDtype {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_U16,
    ST_I16,
    ST_F16,
    ST_BF16,
    ST_U32,
    ST_I32,
    ST_F32,
    ST_U64,
    ST_I64,
    ST_F64,
    ST_NDTYPES
} StDtype;

#define SAFETENSORS_MAX_HEADER ((uint64_t)100 << 20) /* longest header accepted (100 MiB) */
#define SAFETENSORS_MAX_FILE   ((uint64_t)16 << 30)  /* largest file safetensors_read loads into memory */
#define SAFETENSORS_MAX_DIMS   64                    /* most dimensions accepted in a shape */

typedef struct SafeTensors SafeTensors; /* a file read into memory, checked */

/* The format's name of a dtype ("F32"). */
const char *st_dtype_name(StDtype d);
/* Bytes per element of a dtype. */
int st_dtype_size(StDtype d);

/* ---- writing ---- */

/* Writes tensors[i] as names[i] plus metadata strings, atomically; -1 and a message on failure. */
int safetensors_write(const char *path, int n, const char *const *names, const Tensor *const *tensors, int n_meta,
                      const char *const *meta_keys, const char *const *meta_values, NnError *err);

/* ---- reading ---- */

/* Reads and checks the file at path; NULL and a message on any problem. */
SafeTensors *safetensors_read(const char *path, NnError *err);
/* Checks a file's len bytes held in memory (copied: buf may go afterwards); NULL and a message on any problem. */
SafeTensors *safetensors_parse(const void *buf, size_t len, NnError *err);
/* safetensors_parse on a malloc'd buffer of len + 1 bytes that it takes over (freed with the result, or at once
 * on failure); label names it in messages. */
SafeTensors *safetensors_adopt(void *buf, size_t len, const char *label, NnError *err);
/* Releases what safetensors_read or safetensors_parse returned. NULL is allowed. */
void safetensors_free(SafeTensors *st);

/* Number of tensors. */
int safetensors_count(const SafeTensors *st);
/* Index of the tensor called name, or -1. */
int safetensors_find(const SafeTensors *st, const char *name);
/* Name of tensor i (0 <= i < count, in header order). */
const char *safetensors_name(const SafeTensors *st, int i);
/* Stored dtype of tensor i. */
StDtype safetensors_dtype(const SafeTensors *st, int i);
/* Number of dimensions of tensor i, and its sizes in *shape (may be NULL). */
int safetensors_shape(const SafeTensors *st, int i, const int64_t **shape);
/* The raw little-endian bytes of tensor i (not aligned), their count in *bytes (may be NULL). */
const void *safetensors_raw(const SafeTensors *st, int i, size_t *bytes);
/* Number of metadata entries. */
int safetensors_meta_count(const SafeTensors *st);
/* Key and value of metadata entry i (in header order). */
void safetensors_meta_at(const SafeTensors *st, int i, const char **key, const char **value);
/* The metadata value stored under key, or NULL. */
const char *safetensors_meta(const SafeTensors *st, const char *key);

/* Converts tensor name into dst (any strides); -1 and a message if absent or dst's shape differs. */
int safetensors_load_into(const SafeTensors *st, const char *name, Tensor *dst, NnError *err);
/* 0 if every value of tensor i is finite once converted to real; else -1 and a message naming the tensor. */
int safetensors_check_finite(const SafeTensors *st, int i, NnError *err);
/* A new owned tensor holding tensor name; NULL and a message if absent or of more than TENSOR_MAX_DIMS dims. */
Tensor *safetensors_load(const SafeTensors *st, const char *name, NnError *err);

#endif
