/* The time split (docs/sasrec.md, "Retraining"): the data cut at two times,
 * as a model in production meets it.
 *
 *   train   every interaction before valid_from
 *   valid   the interactions in [valid_from, test_from): one evaluation row each
 *   test    the interactions at or after test_from: one evaluation row each
 *
 * The catalogue is the items of the training part (or, for a trained model,
 * its items.txt): a model trained before valid_from cannot know an item first
 * seen later. An evaluation row is a pseudo-user whose sequence is the user's
 * history (every earlier interaction, of any part, with a catalogue item, in
 * time order) followed by the target, so the leave-one-out test split
 * (input s[:-1], answer s[-1]) scores it. Rows are left out and counted when
 * their target is not in the catalogue (new_items: the model cannot
 * recommend it; counted as misses these rows would lower HR and NDCG by the
 * factor rows / (rows + new_items)) or when fewer than 2 catalogue items come
 * before it (short_history: as leave-one-out, which needs 3 interactions per
 * user).
 *
 * The training Dataset ends each user's sequence with two padding entries
 * (item 0): its leave-one-out train split (input s[:-3], targets s[1:-2])
 * then trains on every interaction before valid_from, and the training part
 * that popularity.h counts (s[:-2]) is exactly those interactions. */
#ifndef NN_MODELS_SASREC_DATA_TIMESPLIT_H
#define NN_MODELS_SASREC_DATA_TIMESPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/data/timekey.h"

/* What became of the interactions of one evaluation part. */
typedef struct {
    int64_t events;        /* interactions in the part's time range */
    int64_t rows;          /* of which scored: the rows of the part's Dataset */
    int64_t new_items;     /* left out: the target is not in the catalogue */
    int64_t short_history; /* left out: fewer than 2 catalogue items before the target */
} TimeSplitPart;

typedef struct {
    Dataset train;              /* users with an interaction before valid_from; each sequence ends with 0, 0 */
    int64_t train_interactions; /* real interactions in train (its n_interactions counts the padding too) */
    Dataset valid, test;        /* evaluation rows (no user or item maps); items as train's */
    TimeSplitPart valid_part, test_part;
} TimeSplit;

/* Cuts all (loaded with times) at valid_from <= test_from. catalogue NULL: the items of the training part,
 * numbered in order of first appearance; else its items and ids (a model's items.txt). name stands for the
 * data in messages. -1 naming the flag when all has no times, and with the counts when a part is empty. */
int timesplit_build(const char *name, const Dataset *all, TimeKey valid_from, TimeKey test_from,
                    const Dataset *catalogue, TimeSplit *out, NnError *err);
/* Releases the three Datasets and zeroes ts. */
void timesplit_free(TimeSplit *ts);
/* One line for people: the interactions of each part, the rows scored and those left out. */
void timesplit_summary(const TimeSplit *ts, char *buf, size_t size);

#endif
