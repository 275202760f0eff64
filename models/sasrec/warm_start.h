/* Warm start (sasrec train --init DIR; docs/sasrec.md, "Retraining"): a new
 * model on new data begins from a trained model's weights instead of random
 * ones. Items the parent knows keep their rows of the item table (matched by
 * raw id through the parent's items.txt); new items keep the rows the new
 * model's initialisation gave them (from its seed). Every other weight (the
 * position table, LayerNorms, blocks) is copied when its name and shape
 * match the parent's; any setting that changes a shape or the computation
 * (max_len, hidden, layers, heads, norm, mask) is refused before any work,
 * naming every one that differs. Dropout rates and the optimizer's state are
 * the new run's: Adam starts from zero moments. */
#ifndef NN_MODELS_SASREC_WARM_START_H
#define NN_MODELS_SASREC_WARM_START_H

#include "base/error.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/model.h"

/* 0 if a model of settings child can start from one of settings parent (n_items aside); -1 naming each
 * setting that differs with both values. */
int warm_start_check(const SasrecConfig *parent, const SasrecConfig *child, NnError *err);
/* Copies parent's weights into s (built for ds): the item rows of the items of ds the parent knows (parent_items:
 * its items.txt, as idmap_read_items reads it) and every other parameter by name; *kept gets the items found.
 * -1 naming the first parameter the parent lacks or holds in another shape (s is then partly overwritten). */
int warm_start_apply(Sasrec *s, const Sasrec *parent, const Dataset *parent_items, const Dataset *ds,
                     int64_t *kept, NnError *err);

#endif
