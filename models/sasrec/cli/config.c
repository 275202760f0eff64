#include "models/sasrec/cli/config.h"

#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/parallel.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "models/sasrec/io/regular_file.h"
#include "models/sasrec/cli/preset.h"
#include "models/sasrec/data/sample.h"

#define BIG 1e18 /* no upper bound */

RunConfig config_defaults(void) {
    RunConfig c = {.load = dataset_default_options(),
                       .model = sasrec_default_config(),
                       .train = train_default_config(),
                       .eval = eval_default_options(),
                       .sample_seed = SAMPLE_DEFAULT_SEED,
                       .model_protocol = -1,
                       .threads = nn_threads(),
                       .k = 10,
                       .serve = {.batch = 256, .wait_us = 200, .max_k = 1000, .max_line = 1 << 20},
                       .out = "run"};
    /* the same shards for any rank count, so that -np 1, 2, 3 and 6 give the same run */
    if (dist_built_with_mpi()) c.train.shards = CONFIG_MPI_SHARDS;
    return c;
}

static const char *FORMATS = "auto|seq|pairs|csv|dat|udata", *NORMS = "post|pre", *MASKS = "10000|inf",
                  *LOSSES = "bce|ce|sampled|gbce", *PROTOCOLS = "sample|full", *SEENS = "exclude|zero",
                  *NEG_DISTS = "uniform|pop|in-batch|mixed", *NEG_SCOPES = "batch|sequence|position",
                  *OPTIMIZERS = "adam|lazy-adam", *SAMPLE_METHODS = "auto|s3rec|fast", *SPLITS = "loo|time",
                  *BLOCKS = "sasrec|ligr";

static int data_flags(RunConfig *c, Flag *f) {
    int n = 0;
    f[n++] = F_STR("--data", &c->data, "interaction file (without it: built-in synthetic data)");
    f[n++] = F_CHOICE("--format", &c->load.format, FORMATS, "file format");
    f[n++] = F_STR("--user-col", &c->load.user_col, "csv: user column (default: user or userId)");
    f[n++] = F_STR("--item-col", &c->load.item_col, "csv: item column (default: item, itemId or movieId)");
    f[n++] = F_STR("--time-col", &c->load.time_col, "csv: time column (default: time or timestamp)");
    return n;
}

static int split_flags(RunConfig *c, Flag *f) {
    int n = 0;
    f[n++] = F_CHOICE("--split", &c->split, SPLITS,
                      "leave-one-out (each user's last item tests), or by time (--valid-from, --test-from)");
    f[n++] = F_STR("--valid-from", &c->valid_from,
                   "--split time: interactions from this time (the data's unit) validate; earlier ones train");
    f[n++] = F_STR("--test-from", &c->test_from, "--split time: interactions from this time on are the test");
    return n;
}

static int model_flags(RunConfig *c, Flag *f) {
    SasrecConfig *m = &c->model;
    int n = 0;
    f[n++] = F_INT("--max-len", &m->max_len, 1, 10000, "positions per sequence");
    f[n++] = F_INT("--hidden", &m->hidden, 1, 4096, "hidden size");
    f[n++] = F_INT("--layers", &m->layers, 0, 64, "transformer blocks");
    f[n++] = F_INT("--heads", &m->heads, 1, 4096, "attention heads (must divide --hidden)");
    f[n++] = F_DBL("--dropout", &m->dropout, 0, 1, 0, 1, "hidden dropout, in [0, 1)");
    f[n++] = F_DBL("--attn-dropout", &m->attn_dropout, 0, 1, 0, 1, "attention-probability dropout, in [0, 1)");
    f[n++] = F_DBL("--init-std", &m->init_std, 0, 10, 0, 0, "std of the initial weights");
    f[n++] = F_CHOICE("--block", &m->block, BLOCKS,
                      "transformer block: SASRec's (the seed) or LiGR (pre-LayerNorm, gated residuals, SwiGLU)");
    f[n++] = F_INT("--ff-mult", &m->ff_mult, 1, 64, "feed-forward width in multiples of --hidden (GELU or SwiGLU)");
    f[n++] = F_CHOICE("--norm", &m->norm, NORMS,
                      "sasrec block: LayerNorm after (BERT, the seed) or before each sublayer (ligr: always before)");
    f[n++] = F_CHOICE("--mask", &m->mask, MASKS, "masked scores: -10000 added (the seed) or -inf");
    return n;
}

static int eval_flags(RunConfig *c, Flag *f) {
    int n = 0;
    f[n++] = F_CHOICE("--eval", &c->eval.protocol, PROTOCOLS, "protocol: answer + 99 negatives, or every item");
    f[n++] = F_STR("--sample-file", &c->sample_file, "99 negatives per user (S3-Rec *_sample.txt layout)");
    f[n++] = F_INT("--sample-seed", &c->sample_seed, 0, 9.2e18, "seed of generated evaluation negatives");
    f[n++] = F_CHOICE("--sample-method", &c->sample_method, SAMPLE_METHODS,
                      "generated negatives: S3-Rec's exact lists, a fast sampler of the same law, or auto (by size)");
    f[n++] = F_CHOICE("--seen", &c->eval.seen, SEENS, "full ranking: items of the input never rank, or score 0");
    f[n++] = F_INT("--eval-batch", &c->eval.batch, 1, 65536, "users per evaluation pass");
    return n;
}

static Flag threads_flag(RunConfig *c) { return F_INT("--threads", &c->threads, 1, 1024, "threads"); }

/* --preset's help: the names (the flags of each follow the table in --help). */
static const char *preset_help(void) {
    static char help[320];
    snprintf(help, sizeof help, "a named set of flags, taken before the others (flags typed beside it win): %s",
             preset_names());
    return help;
}

int config_train_flags(RunConfig *c, Flag *f) {
    TrainConfig *t = &c->train;
    int n = 0;
    f[n++] = F_STR("--preset", &c->preset, preset_help());
    n += data_flags(c, f + n);
    n += split_flags(c, f + n);
    n += model_flags(c, f + n);
    f[n++] = F_STR("--init", &c->init, "warm start: begin from this model folder's weights (items matched by id)");
    f[n++] = F_INT("--batch", &t->batch, 1, 65536, "users per training step");
    f[n++] = F_INT("--epochs", &t->epochs, 1, 1000000, "most epochs");
    f[n++] = F_INT("--patience", &t->patience, 1, 1000000, "epochs without a strict gain before stopping");
    f[n++] = F_DBL("--lr", &t->lr, 0, 10, 1, 0, "Adam learning rate, > 0");
    f[n++] = F_DBL("--weight-decay", &t->weight_decay, 0, 10, 0, 0, "Adam L2 weight decay");
    f[n++] = F_DBL("--clip", &t->clip, 0, BIG, 0, 0, "clip gradients to this global norm (0: off)");
    f[n++] = F_CHOICE("--loss", &t->loss, LOSSES,
                      "BCE on one negative per position (the seed), softmax over all items, sampled softmax or "
                      "gSASRec's gBCE over --negatives shared by each batch");
    f[n++] = F_INT("--negatives", &t->negatives, 1, 65536, "sampled, gbce: negatives shared by each batch");
    f[n++] = F_CHOICE("--neg-dist", &t->neg_dist, NEG_DISTS,
                      "sampled: negatives drawn uniformly, by popularity, from the batch's targets or half "
                      "uniformly and half in-batch, the last three with the log-Q correction");
    f[n++] = F_CHOICE("--neg-scope", &t->neg_scope, NEG_SCOPES,
                      "sampled, gbce: --negatives shared by the batch, drawn for each sequence (shared by its "
                      "positions) or for each target position");
    f[n++] = F_DBL("--gbce-t", &t->gbce_t, 0, 1, 0, 0, "gbce: calibration t in [0, 1] (0: plain BCE)");
    f[n++] = F_CHOICE("--optimizer", &t->optimizer, OPTIMIZERS,
                      "Adam over every weight, or lazy Adam: the item rows a step used (torch's SparseAdam)");
    f[n++] = F_INT("--seed", &t->seed, 0, 9.2e18, "seed of initialisation, dropout, negatives and shuffling");
    f[n++] = threads_flag(c);
    f[n++] = F_SWITCH("--dense", &t->dense, "run the dense step over padding too (slower, same result)");
    f[n++] = F_INT("--shards", &t->shards, 1, 65536,
                   "cut each batch into this many fixed shards of users, gradients summed in shard order; under "
                   "mpirun they are dealt to the ranks (default 1; 6 in a build with MPI, CONFIG_MPI_SHARDS)");
    n += eval_flags(c, f + n);
    f[n++] = F_STR("--out", &c->out, "model folder to write");
    f[n++] = F_SWITCH("--force", &c->force,
                      "replace a non-empty --out that is not a model folder (its contents are kept whole beside it)");
    return n;
}

int config_eval_flags(RunConfig *c, Flag *f) {
    int n = data_flags(c, f);
    f[n++] = F_STR("--model", &c->model_dir, "model folder written by train");
    n += eval_flags(c, f + n);
    f[n++] = threads_flag(c);
    return n;
}

int config_predict_flags(RunConfig *c, Flag *f) {
    int n = data_flags(c, f);
    f[n++] = F_STR("--model", &c->model_dir, "model folder written by train");
    f[n++] = F_INT("--k", &c->k, 1, 1000000, "items per user");
    f[n++] = F_STR("--out", &c->out, "CSV file to write (user,item)");
    f[n++] = F_INT("--eval-batch", &c->eval.batch, 1, 65536, "users per pass");
    f[n++] = threads_flag(c);
    return n;
}

int config_explain_flags(RunConfig *c, Flag *f) {
    int n = 0;
    f[n++] = F_STR("--preset", &c->preset,
                   "the model and loss of a train preset (its run flags, such as --epochs, do not apply)");
    n += data_flags(c, f + n);
    n += model_flags(c, f + n);
    f[n++] = F_INT("--batch", &c->train.batch, 1, 65536, "users in the batch");
    f[n++] = F_CHOICE("--loss", &c->train.loss, LOSSES, "training loss");
    f[n++] = F_INT("--negatives", &c->train.negatives, 1, 65536, "sampled, gbce: negatives per scope");
    f[n++] = F_CHOICE("--neg-dist", &c->train.neg_dist, NEG_DISTS, "sampled: the negatives' law (as train)");
    f[n++] = F_CHOICE("--neg-scope", &c->train.neg_scope, NEG_SCOPES,
                      "sampled, gbce: negatives shared by the batch, per sequence or per position (as train)");
    f[n++] = F_DBL("--gbce-t", &c->train.gbce_t, 0, 1, 0, 0, "gbce: calibration t in [0, 1] (as train)");
    f[n++] = F_INT("--seed", &c->train.seed, 0, 9.2e18, "seed");
    f[n++] = F_STR("--dot", &c->dot, "write the autograd graph of one training step (Graphviz) here");
    f[n++] = F_SWITCH("--profile", &c->profile,
                      "print the time, FLOPs and bytes of every op of one training step instead of the data flow");
    f[n++] = F_CHOICE("--profile-clock", &c->profile_clock, "wall|cpu",
                      "profile: wall time, or the main thread's CPU time (steady on a busy machine; with --threads 1)");
    f[n++] = F_STR("--svg", &c->svg, "draw the profile as a bar chart (SVG) here (implies --profile)");
    f[n++] = F_SWITCH("--dense", &c->train.dense, "profile the dense step over padding too (as train --dense)");
    f[n++] = F_CHOICE("--optimizer", &c->train.optimizer, OPTIMIZERS, "profile: Adam or lazy Adam (as train)");
    f[n++] = threads_flag(c);
    return n;
}

int config_serve_flags(RunConfig *c, Flag *f) {
    ServeConfig *s = &c->serve;
    int n = 0;
    f[n++] = F_STR("--model", &c->model_dir, "model folder written by train");
    f[n++] = F_INT("--k", &c->k, 1, 1000000, "items per answer when a request gives no k");
    f[n++] = F_INT("--max-k", &s->max_k, 1, 1000000, "the largest k a request may ask for");
    f[n++] = F_INT("--batch", &s->batch, 1, 65536, "requests per encoder pass, at most");
    f[n++] = F_INT("--wait-us", &s->wait_us, 0, 1000000,
                   "microseconds a pass waits for the rest of a burst (a lone request never waits)");
    f[n++] = F_INT("--max-line", &s->max_line, 16, 1 << 30, "the longest request line, in bytes");
    f[n++] = threads_flag(c);
    return n;
}

/* Parses time (a flag's value) into out; -1 naming the flag. */
static int parse_time(const char *cmd, const char *flag, const char *time, TimeKey *out, NnError *err) {
    if (timekey_parse(time, strlen(time), out) == TIMEKEY_OK) return 0;
    return nn_fail(err, "%s: %s \"%s\" is not a time; expected a number in the unit of the data's time column "
                   "(e.g. Unix seconds: 1500000000)", cmd, flag, time);
}

int config_split_times(const RunConfig *c, const char *cmd, TimeKey *valid_from, TimeKey *test_from, NnError *err) {
    if (!c->test_from) return nn_fail(err, "%s: --split time needs --test-from T (the test's first time)", cmd);
    if (parse_time(cmd, "--test-from", c->test_from, test_from, err)) return -1;
    *valid_from = *test_from;
    if (c->valid_from && parse_time(cmd, "--valid-from", c->valid_from, valid_from, err)) return -1;
    if (timekey_cmp(*valid_from, *test_from) > 0)
        return nn_fail(err, "%s: --valid-from %s is after --test-from %s; expected valid-from <= test-from", cmd,
                       c->valid_from, c->test_from);
    return 0;
}

int config_check_split(const RunConfig *c, const char *cmd, NnError *err) {
    TimeKey vf, tf;
    if (c->split == SPLIT_KIND_LOO) {
        if (c->valid_from || c->test_from)
            return nn_fail(err, "%s: %s goes with --split time", cmd, c->test_from ? "--test-from" : "--valid-from");
        return 0;
    }
    if (config_split_times(c, cmd, &vf, &tf, err)) return -1;
    if (strcmp(cmd, "train") == 0 && !c->valid_from)
        return nn_fail(err, "%s: --split time needs --valid-from T too: the interactions from it to --test-from "
                       "validate (early stopping watches them)", cmd);
    if (c->eval.protocol != PROTOCOL_FULL || c->sample_file)
        return nn_fail(err, "%s: --split time ranks every item, as in production: add --eval full (and drop "
                       "--sample-file)", cmd);
    return 0;
}

int config_check(const RunConfig *c, const char *cmd, NnError *err) {
    if (c->model.hidden % c->model.heads != 0)
        return nn_fail(err, "%s: --hidden %lld is not divisible by --heads %d", cmd, (long long)c->model.hidden,
                       c->model.heads);
    if (c->model.block == BLOCK_LIGR && c->model.norm == NORM_PRE)
        return nn_fail(err, "%s: --norm pre is for the sasrec block; --block ligr always places LayerNorm before each "
                            "sublayer: drop --norm pre", cmd);
    if (c->sample_file && c->eval.protocol != PROTOCOL_SAMPLE)
        return nn_fail(err, "%s: --sample-file goes with --eval sample", cmd);
    if (config_check_split(c, cmd, err)) return -1;
    if (c->train.loss == LOSS_GBCE && c->train.neg_dist != NEG_UNIFORM) {
        char name[32];
        return nn_fail(err,
                       "%s: --loss gbce draws its negatives uniformly (its calibration assumes it); drop --neg-dist "
                       "%s or use --loss sampled",
                       cmd, flags_choice_name(NEG_DISTS, (int)c->train.neg_dist, name, sizeof name));
    }
    return 0;
}

const char *config_path(char *buf, size_t size, const char *dir, const char *name) {
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) nn_abort("config_path", "path too long: %s/%s", dir, name);
    return buf;
}

/* ---- config.json ---- */

static void write_str(FILE *f, const char *key, const char *value, int last) {
    fprintf(f, "  \"%s\": ", key);
    if (value)
        json_write_string(f, value, strlen(value), NULL);
    else
        fputs("null", f);
    fputs(last ? "\n" : ",\n", f);
}

/* The name of the choice the enum at value holds. */
static const char *choice(const char *choices, const void *value, char *buf, size_t size) {
    return flags_choice_name(choices, flags_get_choice(value), buf, size);
}

int config_write(const char *dir, const RunConfig *c, NnError *err) {
    char path[4096], name[64];
    const SasrecConfig *m = &c->model;
    const TrainConfig *t = &c->train;
    AtomicFile *af = atomic_open(config_path(path, sizeof path, dir, CONFIG_FILE), err);
    if (!af) return -1;
    FILE *f = atomic_stream(af);
    fprintf(f, "{\n");
    fprintf(f, "  \"%s\": %d,\n", CONFIG_MARKER, CONFIG_VERSION);
    write_str(f, "data", c->data, 0);
    write_str(f, "format", choice(FORMATS, &c->load.format, name, sizeof name), 0);
    write_str(f, "user_col", c->load.user_col, 0);
    write_str(f, "item_col", c->load.item_col, 0);
    write_str(f, "time_col", c->load.time_col, 0);
    write_str(f, "split", choice(SPLITS, &c->split, name, sizeof name), 0);
    write_str(f, "valid_from", c->valid_from, 0);
    write_str(f, "test_from", c->test_from, 0);
    write_str(f, "init", c->init, 0);
    if (c->has_parent) write_str(f, "parent_model_sha256", c->parent_model.s, 0);
    fprintf(f, "  \"n_items\": %lld,\n", (long long)m->n_items);
    fprintf(f, "  \"max_len\": %lld,\n  \"hidden\": %lld,\n  \"layers\": %d,\n  \"heads\": %d,\n",
            (long long)m->max_len, (long long)m->hidden, m->layers, m->heads);
    fprintf(f, "  \"dropout\": %.17g,\n  \"attn_dropout\": %.17g,\n  \"init_std\": %.17g,\n", m->dropout,
            m->attn_dropout, m->init_std);
    write_str(f, "norm", choice(NORMS, &m->norm, name, sizeof name), 0);
    write_str(f, "mask", choice(MASKS, &m->mask, name, sizeof name), 0);
    write_str(f, "block", choice(BLOCKS, &m->block, name, sizeof name), 0);
    fprintf(f, "  \"ff_mult\": %d,\n", m->ff_mult);
    write_str(f, "preset", c->preset, 0);
    fprintf(f, "  \"batch\": %lld,\n  \"epochs\": %d,\n  \"patience\": %d,\n  \"seed\": %llu,\n  \"threads\": %d,\n",
            (long long)t->batch, t->epochs, t->patience, (unsigned long long)t->seed, c->threads);
    fprintf(f, "  \"lr\": %.17g,\n  \"weight_decay\": %.17g,\n  \"clip\": %.17g,\n", t->lr, t->weight_decay, t->clip);
    write_str(f, "loss", choice(LOSSES, &t->loss, name, sizeof name), 0);
    fprintf(f, "  \"negatives\": %lld,\n", (long long)t->negatives);
    write_str(f, "neg_dist", choice(NEG_DISTS, &t->neg_dist, name, sizeof name), 0);
    write_str(f, "neg_scope", choice(NEG_SCOPES, &t->neg_scope, name, sizeof name), 0);
    fprintf(f, "  \"gbce_t\": %.17g,\n", t->gbce_t);
    write_str(f, "optimizer", choice(OPTIMIZERS, &t->optimizer, name, sizeof name), 0);
    fprintf(f, "  \"dense\": %s,\n", t->dense ? "true" : "false");
    write_str(f, "eval", choice(PROTOCOLS, &c->eval.protocol, name, sizeof name), 0);
    write_str(f, "sample_file", c->sample_file, 0);
    fprintf(f, "  \"sample_seed\": %llu,\n", (unsigned long long)c->sample_seed);
    write_str(f, "sample_method", choice(SAMPLE_METHODS, &c->sample_method, name, sizeof name), 0);
    write_str(f, "seen", choice(SEENS, &c->eval.seen, name, sizeof name), 0);
    fprintf(f, "  \"eval_batch\": %d,\n", c->eval.batch);
    NN_CHECK(c->checksums.present, "config_write", "no checksums of the folder's files");
    write_str(f, "items_sha256", c->checksums.items.s, 0);
    write_str(f, "users_sha256", c->checksums.users.s, 0);
    if (c->checksums.has_popular) write_str(f, "popular_sha256", c->checksums.popular.s, 0);
    write_str(f, "model_sha256", c->checksums.model.s, 1);
    fprintf(f, "}\n");
    return atomic_commit(af, err);
}

/* Reads member key of root as an integer in [lo, hi]. */
static int read_int(const char *path, const Json *root, const char *key, int64_t lo, int64_t hi, int64_t *out,
                    NnError *err) {
    int64_t v;
    if (json_int64(json_get(root, key), &v) || v < lo || v > hi)
        return nn_fail(err, "%s: \"%s\" must be a whole number in [%lld, %lld]", path, key, (long long)lo,
                       (long long)hi);
    *out = v;
    return 0;
}

static int read_double(const char *path, const Json *root, const char *key, double lo, double hi, double *out,
                       NnError *err) {
    double v;
    if (json_double(json_get(root, key), &v) || !(v >= lo && v < hi))
        return nn_fail(err, "%s: \"%s\" must be a number in [%g, %g)", path, key, lo, hi);
    *out = v;
    return 0;
}

/* Reads member key of root, one of choices, into the enum at out. */
static int read_choice(const char *path, const Json *root, const char *key, const char *choices, void *out,
                       NnError *err) {
    const char *s = json_string(json_get(root, key), NULL);
    if (s && flags_set_choice(out, choices, s) == 0) return 0;
    return nn_fail(err, "%s: \"%s\" must be one of %s", path, key, choices);
}

int config_read_model(int dirfd, const char *dir, RunConfig *c, NnError *err) {
    char path[4096];
    config_path(path, sizeof path, dir, CONFIG_FILE);
    char *buf;
    size_t len;
    NnError e;
    if (regular_file_read_at(dirfd, CONFIG_FILE, path, CONFIG_MAX_BYTES, &buf, &len, &e))
        return nn_fail(err, "%s (is %s a model folder written by sasrec train?)", e.msg, dir);
    int rc = config_parse_model(path, buf, len, c, err);
    free(buf);
    return rc;
}

int config_recognise(const char *buf, size_t len) {
    JsonDoc *doc = json_parse(buf, len, NULL, NULL);
    if (!doc) return 0;
    const Json *root = json_root(doc);
    int64_t v;
    int ours = json_type(root) == JSON_OBJECT &&
               (json_get(root, CONFIG_MARKER) ? json_int64(json_get(root, CONFIG_MARKER), &v) == 0 && v == CONFIG_VERSION
                                              : json_int64(json_get(root, "n_items"), &v) == 0 &&
                                                    json_int64(json_get(root, "hidden"), &v) == 0);
    json_free(doc);
    return ours;
}

/* Reads member key of root, 64 lowercase hex digits, into out. */
static int read_sha256(const char *path, const Json *root, const char *key, Sha256Hex *out, NnError *err) {
    size_t n;
    const char *s = json_string(json_get(root, key), &n);
    if (!s || n != 64 || strspn(s, "0123456789abcdef") != 64)
        return nn_fail(err, "%s: \"%s\" must be a SHA-256 in 64 lowercase hex digits", path, key);
    memcpy(out->s, s, 65);
    return 0;
}

/* The marker and the checksums it promises; a file without the marker is of an older version. */
static int read_checksums(const char *path, const Json *root, ModelChecksums *sums, NnError *err) {
    memset(sums, 0, sizeof *sums);
    const Json *marker = json_get(root, CONFIG_MARKER);
    int64_t version;
    if (!marker) return 0;
    if (json_int64(marker, &version) || version != CONFIG_VERSION)
        return nn_fail(err, "%s: \"%s\" must be %d (a folder of another version of sasrec?)", path, CONFIG_MARKER,
                       CONFIG_VERSION);
    if (read_sha256(path, root, "items_sha256", &sums->items, err) ||
        read_sha256(path, root, "users_sha256", &sums->users, err) ||
        read_sha256(path, root, "model_sha256", &sums->model, err) ||
        (json_get(root, "popular_sha256") && read_sha256(path, root, "popular_sha256", &sums->popular, err)))
        return -1;
    sums->has_popular = json_get(root, "popular_sha256") != NULL; /* absent in folders written before it */
    sums->present = 1;
    return 0;
}

/* The split the model was trained with: absent in folders written before --split (leave-one-out). */
static int read_split(const char *path, const Json *root, RunConfig *c, NnError *err) {
    c->split = SPLIT_KIND_LOO;
    c->valid_from = c->test_from = NULL;
    if (!json_get(root, "split")) return 0;
    if (read_choice(path, root, "split", SPLITS, &c->split, err)) return -1;
    if (c->split == SPLIT_KIND_LOO) return 0;
    const char *keys[2] = {"valid_from", "test_from"};
    for (int i = 0; i < 2; i++) {
        size_t n;
        const char *s = json_string(json_get(root, keys[i]), &n);
        TimeKey t;
        if (!s || n >= sizeof c->split_times[i] || timekey_parse(s, n, &t) != TIMEKEY_OK)
            return nn_fail(err, "%s: \"%s\" must be a time (a decimal number as a string) with \"split\": \"time\"",
                           path, keys[i]);
        memcpy(c->split_times[i], s, n + 1);
    }
    c->valid_from = c->split_times[0];
    c->test_from = c->split_times[1];
    return 0;
}

/* "block" and "ff_mult", absent in folders written before --block: the SASRec block SASREC_FFN_FACTOR wide. */
static int read_block(const char *path, const Json *root, SasrecConfig *m, NnError *err) {
    int64_t ff_mult = SASREC_FFN_FACTOR;
    m->block = BLOCK_SASREC;
    if ((json_get(root, "block") && read_choice(path, root, "block", BLOCKS, &m->block, err)) ||
        (json_get(root, "ff_mult") && read_int(path, root, "ff_mult", 1, 64, &ff_mult, err)))
        return -1;
    m->ff_mult = (int)ff_mult; /* within [1, 64] */
    if (m->block == BLOCK_LIGR && m->norm == NORM_PRE)
        return nn_fail(err, "%s: \"norm\" is \"pre\" with \"block\" \"ligr\", which places its LayerNorms itself: "
                            "not a folder sasrec train wrote", path);
    return 0;
}

int config_parse_model(const char *path, const char *buf, size_t len, RunConfig *c, NnError *err) {
    JsonDoc *doc = json_parse(buf, len, NULL, err);
    if (!doc) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return nn_fail(err, "%s: %s", path, msg);
    }
    const Json *root = json_root(doc);
    int rc = -1;
    if (json_type(root) != JSON_OBJECT) {
        nn_fail(err, "%s: expected a JSON object", path);
        goto done;
    }
    SasrecConfig *m = &c->model;
    int64_t layers = 0, heads = 1;
    if (read_int(path, root, "n_items", 1, INT32_MAX - 1, &m->n_items, err) ||
        read_int(path, root, "max_len", 1, 10000, &m->max_len, err) ||
        read_int(path, root, "hidden", 1, 4096, &m->hidden, err) ||
        read_int(path, root, "layers", 0, 64, &layers, err) || read_int(path, root, "heads", 1, 4096, &heads, err) ||
        read_double(path, root, "dropout", 0, 1, &m->dropout, err) ||
        read_double(path, root, "attn_dropout", 0, 1, &m->attn_dropout, err) ||
        read_double(path, root, "init_std", 0, 10, &m->init_std, err) ||
        read_choice(path, root, "norm", NORMS, &m->norm, err) || read_choice(path, root, "mask", MASKS, &m->mask, err) ||
        read_choice(path, root, "loss", LOSSES, &c->train.loss, err) ||
        read_checksums(path, root, &c->checksums, err) || read_split(path, root, c, err))
        goto done;
    if (read_block(path, root, m, err)) goto done;
    Protocol protocol = PROTOCOL_SAMPLE; /* the protocol the model was selected by; absent in older folders */
    c->model_protocol = -1;
    if (json_get(root, "eval")) {
        if (read_choice(path, root, "eval", PROTOCOLS, &protocol, err)) goto done;
        c->model_protocol = (int)protocol;
    }
    const Json *data = json_get(root, "data"); /* null: the built-in synthetic data; absent in no folder we wrote */
    c->trained_on_builtin = data && json_type(data) == JSON_NULL;
    m->layers = (int)layers; /* within [0, 64] and [1, 4096]: they fit */
    m->heads = (int)heads;
    if (m->hidden % m->heads) {
        nn_fail(err, "%s: hidden %lld is not divisible by heads %d", path, (long long)m->hidden, m->heads);
        goto done;
    }
    rc = 0;
done:
    json_free(doc);
    return rc;
}
