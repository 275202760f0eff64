#include "models/sasrec/warm_start.h"

#include <stdio.h>
#include <string.h>

/* Appends "name parent -> child" to buf when they differ; returns whether they did. */
static int differ(char *buf, size_t size, const char *name, long long parent, long long child) {
    if (parent == child) return 0;
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, "%s%s %lld (the parent) vs %lld", n ? ", " : "", name, parent, child);
    return 1;
}

int warm_start_check(const SasrecConfig *parent, const SasrecConfig *child, NnError *err) {
    char what[512] = "";
    int n = 0;
    n += differ(what, sizeof what, "--max-len", parent->max_len, child->max_len);
    n += differ(what, sizeof what, "--hidden", parent->hidden, child->hidden);
    n += differ(what, sizeof what, "--layers", parent->layers, child->layers);
    n += differ(what, sizeof what, "--heads", parent->heads, child->heads);
    n += differ(what, sizeof what, "--norm (0 post, 1 pre)", parent->norm, child->norm);
    n += differ(what, sizeof what, "--mask (0 -10000, 1 -inf)", parent->mask, child->mask);
    if (n == 0) return 0;
    return nn_fail(err,
                   "the parent model differs in %d setting%s that shape%s its weights or computation: %s; "
                   "give the parent's values (its config.json) or train from scratch without --init",
                   n, n > 1 ? "s" : "", n > 1 ? "" : "s", what);
}

static int same_shape(const Tensor *a, const Tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/* The item rows: row i of s from the parent's row of the same raw id, when it has one. */
static int64_t copy_items(Sasrec *s, const Sasrec *parent, const Dataset *parent_items, const Dataset *ds) {
    Tensor *E = s->item_emb.weight;
    const Tensor *P = parent->item_emb.weight;
    int64_t H = E->shape[1], kept = 0;
    memcpy(E->data, P->data, (size_t)H * sizeof *E->data); /* padding */
    for (int64_t i = 1; i <= ds->n_items; i++) {
        int32_t p = dataset_item_id(parent_items, ds->item_ids[i], strlen(ds->item_ids[i]));
        if (!p || p >= P->shape[0]) continue;
        memcpy(E->data + i * H, P->data + (int64_t)p * H, (size_t)H * sizeof *E->data);
        kept++;
    }
    return kept;
}

int warm_start_apply(Sasrec *s, const Sasrec *parent, const Dataset *parent_items, const Dataset *ds,
                     int64_t *kept, NnError *err) {
    NN_CHECK(s->cfg.n_items == ds->n_items && s->item_emb.weight->shape[1] == parent->item_emb.weight->shape[1],
             "warm_start_apply", "a model of %lld items and hidden %lld for data of %lld items and a parent of "
             "hidden %lld", (long long)s->cfg.n_items, (long long)s->item_emb.weight->shape[1],
             (long long)ds->n_items, (long long)parent->item_emb.weight->shape[1]);
    for (int i = 0; i < s->m.n_params; i++) {
        Tensor *t = s->m.params[i].value;
        if (t == s->item_emb.weight) continue;
        const Tensor *p = module_find(&parent->m, s->m.params[i].name);
        if (!p || !same_shape(p, t))
            return nn_fail(err, "--init: the parent model %s parameter %s%s; expected a model of the same "
                           "settings", p ? "holds" : "lacks", s->m.params[i].name, p ? " in another shape" : "");
        memcpy(t->data, p->data, (size_t)t->numel * sizeof *t->data);
    }
    *kept = copy_items(s, parent, parent_items, ds);
    return 0;
}
