/* JSON: a strict RFC 8259 parser into a read-only tree, and a string writer.
 *
 * The parser takes (buf, len), never reads past buf + len and needs no NUL.
 * It refuses anything RFC 8259 does not allow: trailing commas, leading zeros,
 * comments, NaN, single quotes, control characters and invalid UTF-8 inside
 * strings, lone surrogates, duplicate object keys, and anything after the
 * top-level value but whitespace. It uses an explicit stack instead of
 * recursion, so an input can only exhaust the depth limit, not the C stack.
 *
 * Every value belongs to its JsonDoc; json_free releases them all. Accessors
 * are forgiving so that a reader of untrusted data can check types as it
 * goes: asked for the wrong type or an index out of range they return NULL,
 * -1 or 0 rather than aborting.
 *
 * Memory: about 32 bytes per value plus the decoded strings, so a document
 * of n bytes takes at most about 16n bytes. */
#ifndef NN_IO_JSON_H
#define NN_IO_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef enum JsonType { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct Json Json;       /* one value; lives as long as its document */
typedef struct JsonDoc JsonDoc; /* a parsed document: owns all of its values */

/* Limits on what json_parse accepts; a zero field takes the default. */
typedef struct JsonLimits {
    size_t max_bytes; /* longest input, in bytes */
    int max_depth;    /* deepest nesting of arrays and objects */
} JsonLimits;

#define JSON_DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define JSON_DEFAULT_MAX_DEPTH 128

/* ---- parsing ---- */

/* Parses len bytes at buf; NULL and a message with the byte offset on error. limits may be NULL. */
JsonDoc *json_parse(const char *buf, size_t len, const JsonLimits *limits, NnError *err);
/* The top-level value of a document. */
const Json *json_root(const JsonDoc *doc);
/* Releases a document and every value in it. NULL is allowed. */
void json_free(JsonDoc *doc);

/* ---- inspecting values (each accepts NULL and then answers as for a missing value) ---- */

/* The type of v (JSON_NULL for a NULL pointer). */
JsonType json_type(const Json *v);
/* "null", "boolean", "number", "string", "array" or "object". */
const char *json_type_name(JsonType t);
/* Byte offset in the parsed input where v begins, for error messages. */
size_t json_offset(const Json *v);
/* Number of elements of an array or members of an object; 0 for anything else. */
size_t json_count(const Json *v);
/* Element i of an array; NULL if v is not an array or i is out of range. */
const Json *json_at(const Json *v, size_t i);
/* Key of member i of an object (in document order), its length in *len (may be NULL); NULL if none. */
const char *json_key_at(const Json *v, size_t i, size_t *len);
/* Value of member i of an object (in document order); NULL if none. */
const Json *json_value_at(const Json *v, size_t i);
/* The value of the member named key (a C string), found by a linear scan; NULL if none. */
const Json *json_get(const Json *v, const char *key);
/* A string's decoded UTF-8, NUL-terminated, its length (counting any \u0000) in *len (may be NULL). */
const char *json_string(const Json *v, size_t *len);
/* A number's text exactly as written, NUL-terminated; NULL if not a number. */
const char *json_number_text(const Json *v);
/* 0 and *out = v if v is a number without fraction or exponent that fits int64; else -1. */
int json_int64(const Json *v, int64_t *out);
/* 0 and *out = the nearest double if v is a finite number whose value fits a double; else -1. */
int json_double(const Json *v, double *out);
/* 0 and *out = 0 or 1 if v is true or false; else -1. */
int json_bool(const Json *v, int *out);

/* ---- writing ---- */

/* Writes len bytes of UTF-8 as a quoted, escaped JSON string; -1 and a message if not UTF-8 or on error. */
int json_write_string(FILE *f, const char *s, size_t len, NnError *err);

#endif
