/* How often each item occurs in the training part of a data set, kept in a
 * model folder so that a request with no known item can still be answered
 * (sasrec serve and predict: the most popular items; docs/sasrec.md, section 7).
 *
 *   DIR/popular.txt   line k: the count of internal item k (k = 1..n_items)
 *
 * The training part is every user's sequence but its last two items, the
 * counts the most-popular baseline of eval ranks by (docs/sasrec.md,
 * section 5). The file is written atomically by sasrec train, and its SHA-256
 * is recorded in config.json with the folder's other files. */
#ifndef NN_MODELS_SASREC_DATA_POPULARITY_H
#define NN_MODELS_SASREC_DATA_POPULARITY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "models/sasrec/data/dataset.h"

#define POPULARITY_FILE "popular.txt"

/* count (n_items + 1): count[j] = occurrences of item j in the training part (count[0] = 0). */
void popularity_count(const Dataset *ds, int64_t *count);
/* Writes DIR/popular.txt for ds, atomically. */
int popularity_write(const char *dir, const Dataset *ds, NnError *err);
/* Reads the bytes of a popular.txt (name stands for its path in messages) of exactly n_items lines, each a
 * whole number in [0, 2^62], into count (n_items + 1), count[0] = 0; -1 and a message naming the line. */
int popularity_read_buffer(const char *name, const char *data, size_t size, int64_t n_items, int64_t *count,
                           NnError *err);
/* order (n_items): the items 1..n_items by count, highest first; equal counts by lower id first. */
void popularity_order(const int64_t *count, int64_t n_items, int32_t *order);

/* rank (rows->n_users): the full-ranking rank of each row's last item (its target) among items 1..n_items scored
 * by count (n_items + 1; count[0] unused) plus the tie-break of eval's most-popular baseline (a fixed hash of the
 * item, in [0, 0.5)), with the row's other items (its input) never ranked (seen_zero 0: a target among them is a
 * miss, n_items + 1) or scoring 0 (seen_zero 1). eval_rank_popular's ranks for evaluation rows whose popularity
 * comes from another Dataset (data/timesplit.h). */
void popularity_rank_rows(const int64_t *count, const Dataset *rows, int seen_zero, int64_t *rank);

#endif
