#include "base/memory.h"
#include "models/sasrec/train_resume.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dist.h"
#include "io/safetensors.h"

#define RESUME_VERSION "1"

/* A growing metadata string. */
typedef struct {
    char *s;
    size_t len, cap;
} Text;

static void text_add(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(Text *t, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        NN_CHECK(n >= 0, "train_resume_save", "cannot format the state");
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        t->cap = 2 * (t->cap + (size_t)n + 64);
        t->s = nn_realloc(t->s, t->cap);
        t->s[t->len] = '\0';
    }
}

static void text_doubles(Text *t, const double *v, int n) {
    for (int i = 0; i < n; i++) text_add(t, "%s%a", i ? " " : "", v[i]);
}

static void text_rng(Text *t, const Rng *r) {
    text_add(t, "%llu %llu %llu %u %u %u %u %d", (unsigned long long)r->seed, (unsigned long long)r->stream,
             (unsigned long long)r->index, r->buf[0], r->buf[1], r->buf[2], r->buf[3], r->avail);
}

enum { META_VERSION, META_SCALARS, META_LOSSES, META_SCORES, META_TRAIN_S, META_EVAL_S, META_ADAM, META_DROPOUT,
       META_INIT, META_N };
static const char *const META_KEYS[META_N] = {"resume.version", "resume.scalars", "resume.losses",
                                              "resume.scores",  "resume.train_s", "resume.eval_s",
                                              "resume.adam",    "resume.dropout_rng", "resume.init_rng"};

static void build_meta(const Module *m, const Adam *opt, const TrainProgress *p, Text *t) {
    const TrainResult *r = p->res;
    text_add(&t[META_VERSION], RESUME_VERSION);
    text_add(&t[META_SCALARS], "%d %d %d %d %a %a %a %a %a %lld", r->epochs_run, r->best_epoch, r->early_stopped,
             p->counter, r->best_valid, r->first_loss, r->last_loss, r->train_seconds, r->eval_seconds,
             (long long)p->log_bytes);
    text_doubles(&t[META_LOSSES], p->losses, r->epochs_run);
    text_doubles(&t[META_SCORES], p->scores, r->epochs_run);
    text_doubles(&t[META_TRAIN_S], p->train_s, r->epochs_run);
    text_doubles(&t[META_EVAL_S], p->eval_s, r->epochs_run);
    text_add(&t[META_ADAM], "%lld", (long long)opt->step);
    for (int i = 0; i < opt->n_params; i++) text_add(&t[META_ADAM], " %lld", (long long)opt->skipped[i]);
    text_rng(&t[META_DROPOUT], &m->dropout_rng);
    text_rng(&t[META_INIT], &m->init_rng);
    for (int k = 0; k < META_N; k++)
        if (!t[k].s) text_add(&t[k], "%s", ""); /* an empty list (no epoch yet) */
}

int train_resume_save(const char *path, const Module *m, const Adam *opt, const TrainProgress *p, NnError *err) {
    int n = m->n_params;
    const char **names = nn_calloc((size_t)(4 * n), sizeof *names);
    const Tensor **tensors = nn_calloc((size_t)(4 * n), sizeof *tensors);
    char **owned = nn_calloc((size_t)(3 * n), sizeof *owned);
    static const char *const prefix[3] = {"adam.m.", "adam.v.", "best."};
    for (int i = 0; i < n; i++) {
        names[i] = m->params[i].name;
        tensors[i] = m->params[i].value;
        const Tensor *extra[3] = {opt->m[i], opt->v[i], p->best[i]};
        for (int k = 0; k < 3; k++) {
            size_t len = strlen(prefix[k]) + strlen(m->params[i].name) + 1;
            owned[k * n + i] = nn_malloc(len);
            snprintf(owned[k * n + i], len, "%s%s", prefix[k], m->params[i].name);
            names[(k + 1) * n + i] = owned[k * n + i];
            tensors[(k + 1) * n + i] = extra[k];
        }
    }
    Text meta[META_N];
    memset(meta, 0, sizeof meta);
    build_meta(m, opt, p, meta);
    const char *values[META_N];
    for (int k = 0; k < META_N; k++) values[k] = meta[k].s;
    int rc = safetensors_write(path, 4 * n, names, (const Tensor *const *)tensors, META_N, META_KEYS, values, err);
    for (int k = 0; k < META_N; k++) free(meta[k].s);
    for (int i = 0; i < 3 * n; i++) free(owned[i]);
    free(owned);
    free(names);
    free(tensors);
    return rc;
}

/* Parses n doubles (hex or decimal) separated by spaces; -1 if text holds anything else. */
static int parse_doubles(const char *text, double *v, int n) {
    const char *s = text;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        v[i] = strtod(s, &end);
        if (end == s || errno) return -1;
        s = end;
    }
    return *s == '\0' ? 0 : -1;
}

/* Parses n unsigned integers separated by spaces; -1 if text holds anything else. */
static int parse_u64s(const char *text, unsigned long long *v, int n) {
    const char *s = text;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        while (*s == ' ') s++;
        if (*s == '-') return -1;
        v[i] = strtoull(s, &end, 10);
        if (end == s || errno) return -1;
        s = end;
    }
    return *s == '\0' ? 0 : -1;
}

static int parse_rng(const char *text, Rng *r) {
    unsigned long long v[8];
    if (!text || parse_u64s(text, v, 8) || v[7] > 4) return -1;
    *r = (Rng){.seed = v[0], .stream = v[1], .index = v[2], .avail = (int)v[7]};
    for (int k = 0; k < 4; k++) r->buf[k] = (uint32_t)v[3 + k];
    return 0;
}

/* The metadata of a state into p, opt's counters and m's generators; -1 if any of it is malformed. */
static int parse_meta(const SafeTensors *st, Module *m, Adam *opt, TrainProgress *p) {
    const char *v[META_N];
    for (int k = 0; k < META_N; k++)
        if (!(v[k] = safetensors_meta(st, META_KEYS[k]))) return -1;
    if (strcmp(v[META_VERSION], RESUME_VERSION) != 0) return -1;
    TrainResult *r = p->res;
    long long log_bytes;
    int used = 0;
    if (sscanf(v[META_SCALARS], "%d %d %d %d %la %la %la %la %la %lld%n", &r->epochs_run, &r->best_epoch,
               &r->early_stopped, &p->counter, &r->best_valid, &r->first_loss, &r->last_loss, &r->train_seconds,
               &r->eval_seconds, &log_bytes, &used) != 10 || v[META_SCALARS][used] != '\0')
        return -1;
    p->log_bytes = log_bytes;
    int e = r->epochs_run;
    if (e < 0 || e > p->cap || r->best_epoch < -1 || r->best_epoch >= e || p->counter < 0 || log_bytes < 0)
        return -1;
    if (parse_doubles(v[META_LOSSES], p->losses, e) || parse_doubles(v[META_SCORES], p->scores, e) ||
        parse_doubles(v[META_TRAIN_S], p->train_s, e) || parse_doubles(v[META_EVAL_S], p->eval_s, e))
        return -1;
    unsigned long long *adam = nn_malloc((size_t)(opt->n_params + 1) * sizeof *adam);
    int bad = parse_u64s(v[META_ADAM], adam, opt->n_params + 1);
    if (!bad) {
        opt->step = (int64_t)adam[0];
        for (int i = 0; i < opt->n_params; i++) opt->skipped[i] = (int64_t)adam[i + 1];
    }
    free(adam);
    return bad || parse_rng(v[META_DROPOUT], &m->dropout_rng) || parse_rng(v[META_INIT], &m->init_rng) ? -1 : 0;
}

/* Each tensor of the state into its place; -1 and a message naming the one that does not fit. */
static int load_tensors(const SafeTensors *st, Module *m, Adam *opt, TrainProgress *p, NnError *err) {
    static const char *const prefix[4] = {"", "adam.m.", "adam.v.", "best."};
    for (int i = 0; i < m->n_params; i++) {
        Tensor *dst[4] = {m->params[i].value, opt->m[i], opt->v[i], p->best[i]};
        for (int k = 0; k < 4; k++) {
            char name[1024];
            snprintf(name, sizeof name, "%s%s", prefix[k], m->params[i].name);
            if (safetensors_load_into(st, name, dst[k], err)) return -1;
        }
    }
    return 0;
}

int train_resume_load(const char *path, Module *m, Adam *opt, TrainProgress *p, NnError *err) {
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    SafeTensors *st = safetensors_read(path, err);
    if (!st) return -1;
    int rc = 1;
    if (safetensors_count(st) != 4 * m->n_params || parse_meta(st, m, opt, p))
        rc = nn_fail(err, "%s is not a resumable state of this run's model (another version of sasrec, or another "
                          "model); start the run again without --resume", path);
    else if (load_tensors(st, m, opt, p, err))
        rc = -1;
    safetensors_free(st);
    return rc;
}

static void share_tensor(Tensor *t) { dist_bcast(t->data, (size_t)t->numel * sizeof(real), 0); }

void train_resume_share(Module *m, Adam *opt, TrainProgress *p) {
    TrainResult *r = p->res;
    dist_bcast(r, sizeof *r, 0);
    dist_bcast(&p->counter, sizeof p->counter, 0);
    dist_bcast(&p->log_bytes, sizeof p->log_bytes, 0);
    size_t e = (size_t)r->epochs_run;
    double *arrays[4] = {p->losses, p->scores, p->train_s, p->eval_s};
    for (int k = 0; k < 4; k++) dist_bcast(arrays[k], e * sizeof(double), 0);
    dist_bcast(&opt->step, sizeof opt->step, 0);
    dist_bcast(opt->skipped, (size_t)opt->n_params * sizeof *opt->skipped, 0);
    dist_bcast(&m->dropout_rng, sizeof m->dropout_rng, 0);
    dist_bcast(&m->init_rng, sizeof m->init_rng, 0);
    for (int i = 0; i < m->n_params; i++) {
        share_tensor(m->params[i].value);
        share_tensor(opt->m[i]);
        share_tensor(opt->v[i]);
        share_tensor(p->best[i]);
    }
}
