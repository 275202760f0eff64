#include "base/memory.h"
#include "models/sasrec/cli/retrain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/io/regular_file.h"
#include "models/sasrec/data/popularity.h"
#include "models/sasrec/warm_start.h"

/* Loads c->data whole (users of at least 3 interactions) and cuts it at c's times. */
static int load_split(const RunConfig *c, const char *cmd, const Dataset *catalogue, TimeSplit *ts, NnError *err) {
    TimeKey vf, tf;
    Dataset all = {0};
    if (config_split_times(c, cmd, &vf, &tf, err) || app_load_data(c, NULL, DATASET_MIN_INTERACTIONS, &all, err))
        return -1;
    char summary[1024];
    dataset_summary(&all, summary, sizeof summary);
    printf("data: %s\n", summary);
    int rc = timesplit_build(c->data ? c->data : "the built-in synthetic data", &all, vf, tf, catalogue, ts, err);
    dataset_free(&all);
    if (rc) return -1;
    timesplit_summary(ts, summary, sizeof summary);
    printf("%s\n", summary);
    return 0;
}

/* The most-popular baseline on the test rows, counts from the training part ds. */
static Metrics time_split_popular(const RunConfig *c, const Dataset *ds, const TimeSplit *ts) {
    int64_t *count = nn_malloc((size_t)(ds->n_items + 1) * sizeof *count);
    int64_t *rank = nn_malloc((size_t)(ts->test.n_users + 1) * sizeof *rank);
    popularity_count(ds, count);
    popularity_rank_rows(count, &ts->test, c->eval.seen == SEEN_ZERO, rank);
    Metrics m = metrics_from_ranks(PROTOCOL_FULL, rank, ts->test.n_users);
    free(rank);
    free(count);
    return m;
}

int app_train_data(RunConfig *c, Dataset *ds, Retrain *rt, NnError *err) {
    TimeSplit *ts = &rt->ts;
    char summary[1024];
    if (c->split == SPLIT_KIND_LOO) {
        if (app_load_data(c, NULL, DATASET_MIN_INTERACTIONS, ds, err)) return -1;
        dataset_summary(ds, summary, sizeof summary);
        printf("data: %s\n", summary);
        return 0;
    }
    if (load_split(c, "train", NULL, ts, err)) return -1;
    *ds = ts->train; /* the caller's Dataset owns the training part */
    memset(&ts->train, 0, sizeof ts->train);
    c->train.valid_rows = &ts->valid;
    c->train.test_rows = &ts->test;
    rt->popular = time_split_popular(c, ds, ts);
    c->train.test_popular = &rt->popular;
    return 0;
}

int app_eval_time_split(RunConfig *c, const Dataset *items, TimeSplit *ts, NnError *err) {
    if (c->sample_file)
        return nn_fail(err, "eval: --model %s was trained with --split time, which ranks every item; drop "
                       "--sample-file", c->model_dir);
    if (c->eval.protocol != PROTOCOL_FULL)
        printf("note: --model %s was trained with --split time (valid from %s, test from %s): every test row "
               "ranks every item (--eval full)\n", c->model_dir, c->valid_from, c->test_from);
    c->eval.protocol = PROTOCOL_FULL;
    return load_split(c, "eval", items, ts, err);
}

int app_warm_start_load(RunConfig *c, Retrain *rt, NnError *err) {
    LoadedModel *parent = &rt->parent;
    if (!c->init) return 0;
    RunConfig pc = config_defaults();
    pc.model_dir = c->init;
    memset(parent, 0, sizeof *parent);
    if (app_check_model_dir("train --init", c->init, err) || app_load_model(&pc, parent, err) ||
        warm_start_check(&pc.model, &c->model, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        nn_fail(err, "train: --init %s: %s", c->init, msg);
        app_free_model(parent);
        return -1;
    }
    c->has_parent = 1;
    if (pc.checksums.present) { /* checked against the file by app_load_model */
        c->parent_model = pc.checksums.model;
        return 0;
    }
    char path[4096];
    config_path(path, sizeof path, c->init, "model.safetensors");
    if (regular_file_sha256(path, UINT64_MAX, &c->parent_model, err)) {
        app_free_model(parent);
        return -1;
    }
    return 0;
}

int app_init_model(const RunConfig *c, Sasrec *s, const Retrain *rt, const Dataset *ds, NnError *err) {
    int64_t kept;
    sasrec_init(s, &c->model, c->train.seed);
    if (!c->init) return 0;
    if (warm_start_apply(s, &rt->parent.model, &rt->parent.vocab, ds, &kept, err)) return -1;
    printf("warm start from %s (model.safetensors %.12s...): %lld of %lld items keep their rows, %lld new\n",
           c->init, c->parent_model.s, (long long)kept, (long long)ds->n_items, (long long)(ds->n_items - kept));
    return 0;
}

void app_retrain_free(Retrain *rt) {
    timesplit_free(&rt->ts);
    app_free_model(&rt->parent);
    memset(rt, 0, sizeof *rt);
}
