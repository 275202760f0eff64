/* A hash map from byte strings to int64 values (open addressing, linear probing).
 *
 * The map does not copy its keys: a key's bytes must stay alive and unchanged
 * while the map holds it. Keys are (pointer, length) pairs, so they may hold
 * any bytes and need no terminating NUL. Used for raw id -> index lookups. */
#ifndef NN_MODELS_SASREC_IO_STRMAP_H
#define NN_MODELS_SASREC_IO_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct StrMap StrMap;

/* An empty map sized for about `expected` keys (it grows as needed). */
StrMap *strmap_new(size_t expected);
/* Releases the map (not the keys). NULL is fine. */
void strmap_free(StrMap *m);
/* The value stored for key, or -1 when the key is absent. */
int64_t strmap_get(const StrMap *m, const char *key, size_t len);
/* Stores key -> value (value >= 0) unless key is present; returns the value
 * already stored, or -1 when the key was inserted. */
int64_t strmap_put(StrMap *m, const char *key, size_t len, int64_t value);

#endif
