/* SHA-256 (FIPS 180-4): the checksum a model folder's config.json records of
 * its other files, so that a folder mixed from two runs, or a file changed
 * after training, is refused on load.
 *
 *     Sha256 h = sha256_new();
 *     sha256_update(&h, bytes, n);           // any number of times
 *     Sha256Hex hex = sha256_hex(&h);        // "e3b0c442...", 64 hex digits */
#ifndef NN_MODELS_SASREC_IO_SHA256_H
#define NN_MODELS_SASREC_IO_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t bytes;           /* hashed so far */
    unsigned char block[64];  /* the incomplete block */
} Sha256;

typedef struct {
    char s[65]; /* 64 lowercase hex digits and a NUL */
} Sha256Hex;

/* A hash of nothing yet. */
Sha256 sha256_new(void);
/* Adds n bytes. */
void sha256_update(Sha256 *h, const void *data, size_t n);
/* The 32-byte digest of what was added (h is finished: start a new one to hash more). */
void sha256_final(Sha256 *h, unsigned char digest[32]);
/* The digest as 64 lowercase hex digits (finishes h). */
Sha256Hex sha256_hex(Sha256 *h);
/* The hex digest of n bytes in one call. */
Sha256Hex sha256_of(const void *data, size_t n);

#endif
