/* Built-in synthetic data, so that `sasrec train` without --data shows
 * learning within a minute.
 *
 * Items have a Zipf-like popularity (exponent 1, in a random order of ids) and
 * each item has SYNTHETIC_SUCCESSORS likely successors (drawn with a milder
 * popularity skew). A user's first item is drawn by popularity; each next item
 * follows the successors of the last item (most of the time), of the item
 * before it (sometimes: a longer dependency), or is a popularity jump (noise).
 * A user never repeats an item. Lengths run from min_len to max_len, skewed
 * towards short sequences. Everything comes from the seed (Philox).
 *
 * Why a sequential model wins: about 90% of next items are one of the 4
 * successors of the last two items, which a model that reads the sequence can
 * rank near the top, while the successors are only mildly skewed towards
 * popular items, so a most-popular ranking catches few of them. With the
 * defaults, on the test split (sampled: answer + 99 negatives), HR@10 of most
 * popular is about 0.30 and that of a bigram count model about 0.93 (full
 * ranking: 0.07 and 0.86); the top 10% of items hold about 35% of the
 * interactions, the most popular item is about 30 times the median one.
 *
 * Raw ids are "u1".."uN" and "i1".."iM"; internal item ids follow the loader's
 * rule (first appearance). */
#ifndef NN_MODELS_SASREC_DATA_SYNTHETIC_H
#define NN_MODELS_SASREC_DATA_SYNTHETIC_H

#include <stdint.h>

#include "models/sasrec/data/dataset.h"
#include "base/error.h"

#define SYNTHETIC_SUCCESSORS 4

typedef struct {
    int64_t n_users; /* default 2000 */
    int64_t n_items; /* catalogue size (default 1000); at least max_len + 100, so 99 negatives always exist */
    int min_len;     /* default 5; at least 3 */
    int max_len;     /* default 40 */
    double len_skew; /* lengths are min_len + floor(x^len_skew (max_len - min_len + 1)), x uniform in [0, 1):
                        2 (the default) skews to short, below 1 to long; the mean is
                        min_len + (max_len - min_len + 1) / (len_skew + 1) */
    uint64_t seed;   /* default 42 */
} SyntheticOptions;

/* The defaults above. */
SyntheticOptions synthetic_default_options(void);
/* The len_skew that gives lengths from min_len to max_len a mean of avg_len (min_len < avg_len <= max_len). */
double synthetic_len_skew(int min_len, int max_len, double avg_len);
/* Writes ds in the seq format ("user item item ...", one line per user, raw ids), atomically; the first failed
 * write ends it with its reason (err->resource for a full disk). */
int synthetic_write_seq(const Dataset *ds, const char *path, NnError *err);
/* Generates a Dataset (format FORMAT_SYNTHETIC, n_lines 0); -1 when the options cannot work, saying which. */
int synthetic_generate(const SyntheticOptions *opt, Dataset *out, NnError *err);

#endif
