/* UTF-8: the one decoder the readers share (JSON strings, text files, names
 * in safetensors headers), the encoder for JSON's \u escapes, and the one way
 * bytes are quoted in messages.
 *
 * Valid means what the Unicode standard allows (its table 3-7): no overlong
 * forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing past U+10FFFF. */
#ifndef NN_IO_UTF8_H
#define NN_IO_UTF8_H

#include <stddef.h>

/* Length (1 to 4) of the valid UTF-8 sequence at p, n >= 1 bytes available; 0 if invalid. */
size_t utf8_seq_len(const unsigned char *p, size_t n);
/* Length of the longest valid UTF-8 prefix of len bytes at s. */
size_t utf8_valid_len(const char *s, size_t len);
/* Writes code point cp (at most U+10FFFF, not a surrogate) as 1 to 4 bytes at out; returns how many. */
size_t utf8_encode(unsigned cp, unsigned char *out);

#define UTF8_QUOTE_MAX 160 /* the widest quote, in bytes */

/* Bytes rendered for a message by utf8_quote. */
typedef struct Utf8Quote {
    char s[UTF8_QUOTE_MAX + 1]; /* NUL-terminated */
} Utf8Quote;

/* A printable rendering of len bytes at s for a message, at most width bytes
 * (4 to UTF8_QUOTE_MAX): printable ASCII and valid multi-byte characters as
 * they are; control characters, DEL and invalid bytes as \xNN; cut between
 * characters and ended with "..." when longer. Held in the returned value, so
 * every use has its own: utf8_quote(name, n, 60).s lives to the end of the
 * full expression that uses it. */
Utf8Quote utf8_quote(const char *s, size_t len, int width);

#endif
