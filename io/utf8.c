#include "io/utf8.h"

#include <stdio.h>
#include <string.h>

size_t utf8_seq_len(const unsigned char *p, size_t n) {
    unsigned c = p[0], lo = 0x80, hi = 0xBF; /* range of the second byte */
    size_t k;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0; /* overlong */
        if (c == 0xED) hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90; /* overlong */
        if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0; /* a continuation byte, an overlong lead (C0, C1) or past F4 */
    }
    if (n < k || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return k;
}

size_t utf8_valid_len(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq_len(p + i, len - i);
        if (!k) break;
        i += k;
    }
    return i;
}

size_t utf8_encode(unsigned cp, unsigned char *out) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

Utf8Quote utf8_quote(const char *s, size_t len, int width) {
    Utf8Quote q;
    size_t cap = width < 4 ? 4 : width > UTF8_QUOTE_MAX ? UTF8_QUOTE_MAX : (size_t)width;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, i = 0, safe = 0; /* safe: the last character boundary that leaves room for "..." */
    while (i < len) {
        char piece[8];
        size_t k = utf8_seq_len(p + i, len - i), plen;
        if (k > 1) {
            memcpy(piece, p + i, k);
            plen = k;
        } else if (k == 1 && p[i] >= 0x20 && p[i] < 0x7F) {
            piece[0] = (char)p[i];
            plen = 1;
        } else {
            k = 1;
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02X", p[i]);
        }
        if (o + plen > cap) {
            memcpy(q.s + safe, "...", 3);
            o = safe + 3;
            break;
        }
        memcpy(q.s + o, piece, plen);
        o += plen;
        i += k;
        if (o + 3 <= cap) safe = o;
    }
    q.s[o] = '\0';
    return q;
}
