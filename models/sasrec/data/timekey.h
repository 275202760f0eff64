/* Timestamps as sort keys.
 *
 * A timestamp is a decimal number: an optional sign, digits, an optional
 * fraction ("964982703", "-5", "1.5", ".5", "7."). No exponent, no NaN or
 * infinity. The integer part is kept exactly in an int64, so even timestamps
 * beyond 2^53 (nanoseconds) order correctly. */
#ifndef NN_MODELS_SASREC_DATA_TIMEKEY_H
#define NN_MODELS_SASREC_DATA_TIMEKEY_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t whole; /* floor of the value */
    double frac;   /* value - whole, in [0, 1) */
} TimeKey;

enum { TIMEKEY_OK = 0, TIMEKEY_NOT_A_NUMBER = -1, TIMEKEY_OUT_OF_RANGE = -2 };

/* Parses p[0..len) into out; TIMEKEY_NOT_A_NUMBER, or TIMEKEY_OUT_OF_RANGE when |integer part| > INT64_MAX - 1. */
int timekey_parse(const char *p, size_t len, TimeKey *out);
/* -1, 0 or 1 as a is before, equal to, or after b. */
int timekey_cmp(TimeKey a, TimeKey b);
/* The value as decimal text: the whole number alone when there is no fraction ("964982703"), else to 6 places. */
void timekey_format(TimeKey t, char *buf, size_t size);

#endif
