#include "models/sasrec/data/timekey.h"

#include <stdio.h>

int timekey_parse(const char *p, size_t len, TimeKey *out) {
    size_t i = 0;
    int neg = 0;
    if (i < len && (p[i] == '+' || p[i] == '-')) neg = p[i++] == '-';
    uint64_t whole = 0;
    int digits = 0, overflow = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (whole > ((uint64_t)INT64_MAX - 1 - d) / 10)
            overflow = 1;
        else
            whole = whole * 10 + d;
    }
    /* the fraction: up to 18 digits exactly in an integer, the rest cannot change a double */
    uint64_t num = 0, den = 1;
    if (i < len && p[i] == '.') {
        for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++)
            if (den < 1000000000000000000ull) num = num * 10 + (uint64_t)(p[i] - '0'), den *= 10;
    }
    if (i != len || digits == 0) return TIMEKEY_NOT_A_NUMBER;
    if (overflow) return TIMEKEY_OUT_OF_RANGE;
    double frac = (double)num / (double)den;
    if (frac >= 1.0) frac = 0x1.fffffffffffffp-1; /* rounding of 0.999...9 */
    if (!neg || (whole == 0 && num == 0)) {
        out->whole = (int64_t)whole;
        out->frac = frac;
    } else if (num == 0) {
        out->whole = -(int64_t)whole;
        out->frac = 0;
    } else { /* -(w + f) = -(w + 1) + (1 - f) */
        out->whole = -(int64_t)whole - 1;
        out->frac = 1.0 - frac;
        if (out->frac >= 1.0) out->frac = 0x1.fffffffffffffp-1;
    }
    return TIMEKEY_OK;
}

int timekey_cmp(TimeKey a, TimeKey b) {
    if (a.whole != b.whole) return a.whole < b.whole ? -1 : 1;
    if (a.frac != b.frac) return a.frac < b.frac ? -1 : 1;
    return 0;
}

void timekey_format(TimeKey t, char *buf, size_t size) {
    if (t.frac == 0) {
        snprintf(buf, size, "%lld", (long long)t.whole);
        return;
    }
    double v = (double)t.whole + t.frac; /* for people: close enough, never parsed back */
    snprintf(buf, size, "%.6f", v);
}
