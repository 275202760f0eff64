#include "models/sasrec/cli/config.h"

#include <stdlib.h>
#include <string.h>

#include "models/sasrec/data/dataset.h"
#include "models/sasrec/eval.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "base/parallel.h"

#define BIG 1e18 /* no upper bound */

RunConfig config_defaults(void) {
    RunConfig c = {0};
    c.format = FORMAT_AUTO;
    c.max_len = 50;
    c.hidden = 64;
    c.layers = 2;
    c.heads = 2;
    c.dropout = 0.5;
    c.attn_dropout = 0.5;
    c.init_std = 0.02;
    c.norm = NORM_POST;
    c.mask = MASK_MINUS_10000;
    c.batch = 256;
    c.epochs = 200;
    c.patience = 10;
    c.seed = 42;
    c.threads = nn_threads(); /* every core (or OMP_NUM_THREADS): results do not depend on it */
    c.lr = 1e-3;
    c.loss = LOSS_BCE;
    c.protocol = PROTOCOL_SAMPLE;
    c.sample_seed = 12345;
    c.seen = SEEN_EXCLUDE;
    c.eval_batch = 512;
    c.k = 10;
    c.out = "run";
    return c;
}

SasrecConfig config_model(const RunConfig *c, int64_t n_items) {
    SasrecConfig m = sasrec_default_config();
    m.n_items = n_items;
    m.max_len = c->max_len;
    m.hidden = c->hidden;
    m.layers = (int)c->layers;
    m.heads = (int)c->heads;
    m.dropout = c->dropout;
    m.attn_dropout = c->attn_dropout;
    m.init_std = c->init_std;
    m.norm = (NormPlacement)c->norm;
    m.mask = (MaskKind)c->mask;
    return m;
}

#define F_INT(n, d, lo, hi, h)                                                                                         \
    { n, FLAG_INT, d, NULL, lo, hi, 0, 0, h, 0 }
#define F_DBL(n, d, lo, hi, lo_open, hi_open, h)                                                                       \
    { n, FLAG_DOUBLE, d, NULL, lo, hi, lo_open, hi_open, h, 0 }
#define F_STR(n, d, h)                                                                                                 \
    { n, FLAG_STRING, d, NULL, 0, 0, 0, 0, h, 0 }
#define F_CHOICE(n, d, choices, h)                                                                                     \
    { n, FLAG_CHOICE, d, choices, 0, 0, 0, 0, h, 0 }
#define F_SWITCH(n, d, h)                                                                                              \
    { n, FLAG_SWITCH, d, NULL, 0, 0, 0, 0, h, 0 }

static int data_flags(RunConfig *c, Flag *f) {
    int n = 0;
    f[n++] = (Flag)F_STR("--data", &c->data, "interaction file (without it: built-in synthetic data)");
    f[n++] = (Flag)F_CHOICE("--format", &c->format, "auto|seq|pairs|csv|dat|udata", "file format");
    f[n++] = (Flag)F_STR("--user-col", &c->user_col, "csv: user column (default: user or userId)");
    f[n++] = (Flag)F_STR("--item-col", &c->item_col, "csv: item column (default: item, itemId or movieId)");
    f[n++] = (Flag)F_STR("--time-col", &c->time_col, "csv: time column (default: time or timestamp)");
    return n;
}

static int model_flags(RunConfig *c, Flag *f) {
    int n = 0;
    f[n++] = (Flag)F_INT("--max-len", &c->max_len, 1, 10000, "positions per sequence");
    f[n++] = (Flag)F_INT("--hidden", &c->hidden, 1, 4096, "hidden size");
    f[n++] = (Flag)F_INT("--layers", &c->layers, 0, 64, "transformer blocks");
    f[n++] = (Flag)F_INT("--heads", &c->heads, 1, 4096, "attention heads (must divide --hidden)");
    f[n++] = (Flag)F_DBL("--dropout", &c->dropout, 0, 1, 0, 1, "hidden dropout, in [0, 1)");
    f[n++] = (Flag)F_DBL("--attn-dropout", &c->attn_dropout, 0, 1, 0, 1, "attention-probability dropout, in [0, 1)");
    f[n++] = (Flag)F_DBL("--init-std", &c->init_std, 0, 10, 0, 0, "std of the initial weights");
    f[n++] = (Flag)F_CHOICE("--norm", &c->norm, "post|pre", "LayerNorm after (BERT, the seed) or before each sublayer");
    f[n++] = (Flag)F_CHOICE("--mask", &c->mask, "10000|inf", "masked scores: -10000 added (the seed) or -inf");
    return n;
}

static int eval_flags(RunConfig *c, Flag *f) {
    int n = 0;
    f[n++] = (Flag)F_CHOICE("--eval", &c->protocol, "sample|full", "protocol: answer + 99 negatives, or every item");
    f[n++] = (Flag)F_STR("--sample-file", &c->sample_file, "99 negatives per user (S3-Rec *_sample.txt layout)");
    f[n++] = (Flag)F_INT("--sample-seed", &c->sample_seed, 0, 9.2e18, "seed of generated evaluation negatives");
    f[n++] =
        (Flag)F_CHOICE("--seen", &c->seen, "exclude|zero", "full ranking: items of the input never rank, or score 0");
    f[n++] = (Flag)F_INT("--eval-batch", &c->eval_batch, 1, 65536, "users per evaluation pass");
    return n;
}

int config_train_flags(RunConfig *c, Flag *f) {
    int n = data_flags(c, f);
    n += model_flags(c, f + n);
    f[n++] = (Flag)F_INT("--batch", &c->batch, 1, 65536, "users per training step");
    f[n++] = (Flag)F_INT("--epochs", &c->epochs, 1, 1000000, "most epochs");
    f[n++] = (Flag)F_INT("--patience", &c->patience, 1, 1000000, "epochs without a strict gain before stopping");
    f[n++] = (Flag)F_DBL("--lr", &c->lr, 0, 10, 1, 0, "Adam learning rate, > 0");
    f[n++] = (Flag)F_DBL("--weight-decay", &c->weight_decay, 0, 10, 0, 0, "Adam L2 weight decay");
    f[n++] = (Flag)F_DBL("--clip", &c->clip, 0, BIG, 0, 0, "clip gradients to this global norm (0: off)");
    f[n++] = (Flag)F_CHOICE("--loss", &c->loss, "bce|ce",
                            "BCE on one negative per position (the seed), or softmax over all items");
    f[n++] = (Flag)F_INT("--seed", &c->seed, 0, 9.2e18, "seed of initialisation, dropout, negatives and shuffling");
    f[n++] = (Flag)F_INT("--threads", &c->threads, 1, 1024, "threads");
    f[n++] = (Flag)F_SWITCH("--dense", &c->dense, "run the dense step over padding too (slower, same result)");
    n += eval_flags(c, f + n);
    f[n++] = (Flag)F_STR("--out", &c->out, "model folder to write");
    return n;
}

int config_eval_flags(RunConfig *c, Flag *f) {
    int n = data_flags(c, f);
    f[n++] = (Flag)F_STR("--model", &c->model, "model folder written by train");
    n += eval_flags(c, f + n);
    f[n++] = (Flag)F_INT("--threads", &c->threads, 1, 1024, "threads");
    return n;
}

int config_predict_flags(RunConfig *c, Flag *f) {
    int n = data_flags(c, f);
    f[n++] = (Flag)F_STR("--model", &c->model, "model folder written by train");
    f[n++] = (Flag)F_INT("--k", &c->k, 1, 1000000, "items per user");
    f[n++] = (Flag)F_STR("--out", &c->out, "CSV file to write (user,item)");
    f[n++] = (Flag)F_INT("--eval-batch", &c->eval_batch, 1, 65536, "users per pass");
    f[n++] = (Flag)F_INT("--threads", &c->threads, 1, 1024, "threads");
    return n;
}

int config_explain_flags(RunConfig *c, Flag *f) {
    int n = data_flags(c, f);
    n += model_flags(c, f + n);
    f[n++] = (Flag)F_INT("--batch", &c->batch, 1, 65536, "users in the batch");
    f[n++] = (Flag)F_CHOICE("--loss", &c->loss, "bce|ce", "training loss");
    f[n++] = (Flag)F_INT("--seed", &c->seed, 0, 9.2e18, "seed");
    f[n++] = (Flag)F_STR("--dot", &c->dot, "write the autograd graph of one training step (Graphviz) here");
    f[n++] = (Flag)F_INT("--threads", &c->threads, 1, 1024, "threads");
    return n;
}

int config_check(const RunConfig *c, const char *cmd, NnError *err) {
    if (c->hidden % c->heads != 0)
        return nn_fail(err, "%s: --hidden %lld is not divisible by --heads %lld", cmd, (long long)c->hidden,
                       (long long)c->heads);
    if (c->sample_file && c->protocol != PROTOCOL_SAMPLE)
        return nn_fail(err, "%s: --sample-file goes with --eval sample", cmd);
    return 0;
}

const char *config_path(char *buf, size_t size, const char *dir, const char *name) {
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) nn_abort("config_path", "path too long: %s/%s", dir, name);
    return buf;
}

/* ---- config.json ---- */

static const char *FORMATS = "auto|seq|pairs|csv|dat|udata", *NORMS = "post|pre", *MASKS = "10000|inf",
                  *LOSSES = "bce|ce", *PROTOCOLS = "sample|full", *SEENS = "exclude|zero";

static void write_str(FILE *f, const char *key, const char *value, int last) {
    fprintf(f, "  \"%s\": ", key);
    if (value)
        json_write_string(f, value, strlen(value), NULL);
    else
        fputs("null", f);
    fputs(last ? "\n" : ",\n", f);
}

int config_write(const char *dir, const RunConfig *c, int64_t n_items, NnError *err) {
    char path[4096], name[64];
    AtomicFile *af = atomic_open(config_path(path, sizeof path, dir, CONFIG_FILE), err);
    if (!af) return -1;
    FILE *f = atomic_stream(af);
    fprintf(f, "{\n");
    write_str(f, "data", c->data, 0);
    write_str(f, "format", flags_choice_name(FORMATS, c->format, name, sizeof name), 0);
    write_str(f, "user_col", c->user_col, 0);
    write_str(f, "item_col", c->item_col, 0);
    write_str(f, "time_col", c->time_col, 0);
    fprintf(f, "  \"n_items\": %lld,\n", (long long)n_items);
    fprintf(f, "  \"max_len\": %lld,\n  \"hidden\": %lld,\n  \"layers\": %lld,\n  \"heads\": %lld,\n",
            (long long)c->max_len, (long long)c->hidden, (long long)c->layers, (long long)c->heads);
    fprintf(f, "  \"dropout\": %.17g,\n  \"attn_dropout\": %.17g,\n  \"init_std\": %.17g,\n", c->dropout,
            c->attn_dropout, c->init_std);
    write_str(f, "norm", flags_choice_name(NORMS, c->norm, name, sizeof name), 0);
    write_str(f, "mask", flags_choice_name(MASKS, c->mask, name, sizeof name), 0);
    fprintf(
        f, "  \"batch\": %lld,\n  \"epochs\": %lld,\n  \"patience\": %lld,\n  \"seed\": %lld,\n  \"threads\": %lld,\n",
        (long long)c->batch, (long long)c->epochs, (long long)c->patience, (long long)c->seed, (long long)c->threads);
    fprintf(f, "  \"lr\": %.17g,\n  \"weight_decay\": %.17g,\n  \"clip\": %.17g,\n", c->lr, c->weight_decay, c->clip);
    write_str(f, "loss", flags_choice_name(LOSSES, c->loss, name, sizeof name), 0);
    fprintf(f, "  \"dense\": %s,\n", c->dense ? "true" : "false");
    write_str(f, "eval", flags_choice_name(PROTOCOLS, c->protocol, name, sizeof name), 0);
    write_str(f, "sample_file", c->sample_file, 0);
    fprintf(f, "  \"sample_seed\": %lld,\n", (long long)c->sample_seed);
    write_str(f, "seen", flags_choice_name(SEENS, c->seen, name, sizeof name), 0);
    fprintf(f, "  \"eval_batch\": %lld\n}\n", (long long)c->eval_batch);
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

static int read_choice(const char *path, const Json *root, const char *key, const char *choices, int *out,
                       NnError *err) {
    const char *s = json_string(json_get(root, key), NULL);
    char name[64];
    for (int i = 0; s && i < 8; i++)
        if (strcmp(flags_choice_name(choices, i, name, sizeof name), s) == 0) {
            *out = i;
            return 0;
        }
    return nn_fail(err, "%s: \"%s\" must be one of %s", path, key, choices);
}

int config_read_model(const char *dir, RunConfig *c, int64_t *n_items, NnError *err) {
    char path[4096];
    config_path(path, sizeof path, dir, CONFIG_FILE);
    FILE *f = fopen(path, "rb");
    if (!f) return nn_fail(err, "%s: cannot open (is %s a model folder written by sasrec train?)", path, dir);
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap) buf = nn_realloc(buf, cap = cap ? 2 * cap : 4096);
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0 && len < (1u << 20));
    fclose(f);
    int rc = config_parse_model(path, buf, len, c, n_items, err);
    free(buf);
    return rc;
}

int config_parse_model(const char *path, const char *buf, size_t len, RunConfig *c, int64_t *n_items, NnError *err) {
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
    if (read_int(path, root, "n_items", 1, INT32_MAX - 1, n_items, err) ||
        read_int(path, root, "max_len", 1, 10000, &c->max_len, err) ||
        read_int(path, root, "hidden", 1, 4096, &c->hidden, err) ||
        read_int(path, root, "layers", 0, 64, &c->layers, err) ||
        read_int(path, root, "heads", 1, 4096, &c->heads, err) ||
        read_double(path, root, "dropout", 0, 1, &c->dropout, err) ||
        read_double(path, root, "attn_dropout", 0, 1, &c->attn_dropout, err) ||
        read_double(path, root, "init_std", 0, 10, &c->init_std, err) ||
        read_choice(path, root, "norm", NORMS, &c->norm, err) ||
        read_choice(path, root, "mask", MASKS, &c->mask, err) || read_choice(path, root, "loss", LOSSES, &c->loss, err))
        goto done;
    if (c->hidden % c->heads) {
        nn_fail(err, "%s: hidden %lld is not divisible by heads %lld", path, (long long)c->hidden, (long long)c->heads);
        goto done;
    }
    rc = 0;
done:
    json_free(doc);
    return rc;
}
