/* Negatives for the sampled evaluation: for each user, n_neg items the user
 * never interacted with, ranked against the answer (docs/sasrec.md, section 5).
 *
 * A sample file has the S3-Rec *_sample.txt layout: one line per user,
 * "user neg1 neg2 ... neg99", separated by spaces (tabs are accepted), with
 * raw ids. Lines are matched to the data by the user token, not by position.
 * Refused, naming the file and line: a user not in the data, a data user with
 * no line, a user with two lines, an unknown item, a count other than n_neg,
 * and a negative that is in the user's own sequence (an error, not a warning:
 * S3-Rec's generation never produces one, so it means the file belongs to
 * other data). A negative repeated within a line is accepted and counted
 * (S3-Rec's generate_test.py can repeat one; Beauty_sample.txt has 8). */
#ifndef NN_MODELS_SASREC_DATA_SAMPLE_H
#define NN_MODELS_SASREC_DATA_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "models/sasrec/data/dataset.h"
#include "base/error.h"

#define SAMPLE_DEFAULT_NEG  99
#define SAMPLE_DEFAULT_SEED 12345 /* --sample-seed */

/* How generated negatives are drawn (--sample-method). */
typedef enum {
    SAMPLE_AUTO,  /* SAMPLE_S3REC while users x items <= SAMPLE_S3REC_MAX_COST, else SAMPLE_FAST */
    SAMPLE_S3REC, /* sample_generate: S3-Rec's very lists, a permutation of every item per user */
    SAMPLE_FAST,  /* sample_generate_fast: the same law in O(n_neg) per user */
} SampleMethod;

/* users x items up to which SAMPLE_AUTO keeps S3-Rec's lists: 2^31, about 15 s on one core of a
 * 2026 x86-64 (S3-Rec's generator draws a permutation of the catalogue per user, ~7 ns an item;
 * Beauty: 22363 x 12101 = 2.7e8 items, 1.9 s). */
#define SAMPLE_S3REC_MAX_COST ((double)(1u << 31))

typedef struct {
    int64_t n_users;    /* the dataset's users, in its order */
    int n_neg;          /* negatives per user */
    int32_t *neg;       /* (n_users, n_neg) internal item ids */
    int64_t duplicates; /* negatives repeating an earlier one on the same line (read files only) */
} SampleSet;

/* Reads a sample file for ds, expecting n_neg negatives per line. */
int sample_read(const char *path, const Dataset *ds, int n_neg, SampleSet *out, NnError *err);
/* sample_read on bytes in memory (not NUL-terminated); name stands for the path in messages. */
int sample_read_buffer(const char *name, const char *data, size_t size, const Dataset *ds, int n_neg, SampleSet *out,
                       NnError *err);
/* Draws n_neg negatives per user exactly as S3-Rec's generate_test.py does with
 * numpy.random.RandomState(seed): for each user in order, while fewer than
 * n_neg, the first n_neg of a permutation of all items, keeping those not in
 * the user's sequence (so a negative can repeat when a user needs a second
 * round, as in S3-Rec's files). Items count in order of first appearance, so
 * on a seq file with no user skipped the lists equal S3-Rec's (and the
 * PyTorch reference's). -1 naming the first user with fewer than n_neg items
 * never interacted with. */
int sample_generate(const Dataset *ds, int n_neg, uint64_t seed, SampleSet *out, NnError *err);
/* Draws n_neg distinct negatives per user, each set uniform among the
 * n_neg-subsets of the items the user never interacted with: the law of
 * S3-Rec's first round (sample_generate), in O(n_neg) expected per user
 * (draws rejected when they are in the user's sorted item set or already
 * drawn) instead of O(items). A user who has seen half the catalogue or more
 * (or leaves fewer than 2 n_neg items) draws from the list of their unseen
 * items instead. The draws of user u are a pure function of (seed, u)
 * (Philox), so the result does not depend on the thread count; they are not
 * S3-Rec's lists. -1 as sample_generate. */
int sample_generate_fast(const Dataset *ds, int n_neg, uint64_t seed, SampleSet *out, NnError *err);
/* The method SAMPLE_AUTO stands for on ds. */
SampleMethod sample_auto_method(const Dataset *ds);
/* "auto", "s3rec", "fast". */
const char *sample_method_name(SampleMethod m);
/* Writes s in the sample-file layout with raw ids, atomically; -1 if an id holds whitespace. */
int sample_write(const char *path, const Dataset *ds, const SampleSet *s, NnError *err);
/* Releases the negatives and zeroes s. */
void sample_free(SampleSet *s);

#endif
