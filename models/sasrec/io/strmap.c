#include "models/sasrec/io/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/memory.h"

typedef struct {
    const char *key; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    int64_t value;
} Slot;

struct StrMap {
    Slot *slots; /* (cap) */
    size_t cap;  /* a power of two, at least twice the size */
    size_t size;
};

/* 8 bytes at a time, then a murmur3 finaliser: fast and well mixed for short ids. */
static uint64_t hash_bytes(const char *p, size_t len) {
    uint64_t h = 0x243F6A8885A308D3ull ^ (len * 0x9E3779B97F4A7C15ull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < len; i++) tail |= (uint64_t)(unsigned char)p[i] << (8 * i);
    h ^= tail;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

StrMap *strmap_new(size_t expected) {
    StrMap *m = nn_calloc(1, sizeof *m);
    m->cap = 16;
    while (m->cap < 2 * expected) m->cap *= 2;
    m->slots = nn_calloc(m->cap, sizeof *m->slots);
    return m;
}

void strmap_free(StrMap *m) {
    if (!m) return;
    free(m->slots);
    free(m);
}

static Slot *find(const StrMap *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        Slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)) return s;
    }
}

static void grow(StrMap *m) {
    Slot *old = m->slots;
    size_t old_cap = m->cap;
    m->cap *= 2;
    m->slots = nn_calloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key) *find(m, old[i].key, old[i].len, old[i].hash) = old[i];
    free(old);
}

int64_t strmap_get(const StrMap *m, const char *key, size_t len) {
    const Slot *s = find(m, key, len, hash_bytes(key, len));
    return s->key ? s->value : -1;
}

int64_t strmap_put(StrMap *m, const char *key, size_t len, int64_t value) {
    NN_CHECK(key && value >= 0, "strmap_put", "needs a key and a value >= 0 (got %lld)", (long long)value);
    if (2 * (m->size + 1) > m->cap) grow(m);
    uint64_t h = hash_bytes(key, len);
    Slot *s = find(m, key, len, h);
    if (s->key) return s->value;
    *s = (Slot){.key = key, .len = len, .hash = h, .value = value};
    m->size++;
    return -1;
}
