#include "nn/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "io/safetensors.h"

#define OPT_M       "optim.m."
#define OPT_V       "optim.v."
#define OPT_STEP    "optim.step"
#define OPT_SKIPPED "optim.skipped" /* per parameter: steps it had no gradient, comma separated */
#define OPT_BUF     "optim.buf."    /* SGD's momentum buffer of a parameter that has one */
#define OPT_KIND    "optim.kind"    /* "sgd" in a file holding SGD's state; absent for Adam's and none */

static char *prefixed(const char *prefix, const char *name) {
    size_t n = strlen(prefix) + strlen(name) + 1;
    char *s = nn_malloc(n);
    snprintf(s, n, "%s%s", prefix, name);
    return s;
}

/* Writes m's parameters, Adam's state (opt) or SGD's momentum buffers (sgd), and the caller's metadata. */
static int save(const char *path, const Module *m, const Adam *opt, const Sgd *sgd, int n_meta,
                const char *const *meta_keys, const char *const *meta_values, NnError *err) {
    if (opt) optim_params_check("checkpoint_save", m, opt->n_params);
    if (sgd) optim_params_check("checkpoint_save_sgd", m, sgd->n_params);
    int n_buf = 0;
    for (int i = 0; sgd && i < m->n_params; i++) n_buf += sgd->buf[i] != NULL;
    int n = m->n_params * (opt ? 3 : 1) + n_buf;
    const char **names = nn_calloc((size_t)n, sizeof *names);
    const Tensor **tensors = nn_calloc((size_t)n, sizeof *tensors);
    char **owned = nn_calloc((size_t)n + 1, sizeof *owned); /* Adam's: [0, 2 n_params); SGD's: by tensor */
    for (int i = 0; i < m->n_params; i++) {
        names[i] = m->params[i].name;
        tensors[i] = m->params[i].value;
        if (opt) {
            names[m->n_params + 2 * i] = owned[2 * i] = prefixed(OPT_M, m->params[i].name);
            tensors[m->n_params + 2 * i] = opt->m[i];
            names[m->n_params + 2 * i + 1] = owned[2 * i + 1] = prefixed(OPT_V, m->params[i].name);
            tensors[m->n_params + 2 * i + 1] = opt->v[i];
        }
    }
    for (int i = 0, k = m->n_params; sgd && i < m->n_params; i++)
        if (sgd->buf[i]) {
            names[k] = owned[k] = prefixed(OPT_BUF, m->params[i].name);
            tensors[k++] = sgd->buf[i];
        }
    const char **keys = nn_calloc((size_t)n_meta + 4, sizeof *keys),
               **values = nn_calloc((size_t)n_meta + 4, sizeof *values);
    char step[32];
    snprintf(step, sizeof step, "%" PRId64, opt ? opt->step : 0);
    char *skipped = nn_calloc((size_t)m->n_params * 21 + 1, 1);
    for (int i = 0, len = 0; opt && i < m->n_params; i++)
        len += snprintf(skipped + len, 22, "%s%" PRId64, i ? "," : "", opt->skipped[i]);
    int nm = 0;
    keys[nm] = "format";
    values[nm++] = "nn checkpoint 1";
    if (opt) {
        keys[nm] = OPT_STEP;
        values[nm++] = step;
        keys[nm] = OPT_SKIPPED;
        values[nm++] = skipped;
    }
    if (sgd) {
        keys[nm] = OPT_KIND;
        values[nm++] = "sgd";
    }
    for (int i = 0; i < n_meta; i++) {
        keys[nm] = meta_keys[i];
        values[nm++] = meta_values[i];
    }
    int rc = safetensors_write(path, n, names, tensors, nm, keys, values, err);
    for (int i = 0; i < n; i++) free(owned[i]);
    free(owned);
    free(skipped);
    free(names);
    free(tensors);
    free(keys);
    free(values);
    return rc;
}

int checkpoint_save(const char *path, const Module *m, const Adam *opt, int n_meta, const char *const *meta_keys,
                    const char *const *meta_values, NnError *err) {
    return save(path, m, opt, NULL, n_meta, meta_keys, meta_values, err);
}

int checkpoint_save_sgd(const char *path, const Module *m, const Sgd *sgd, int n_meta, const char *const *meta_keys,
                        const char *const *meta_values, NnError *err) {
    NN_CHECK(sgd != NULL, "checkpoint_save_sgd", "no optimizer given: use checkpoint_save for the model alone");
    return save(path, m, NULL, sgd, n_meta, meta_keys, meta_values, err);
}

/* Whether the stored tensor i has t's shape; a message naming both otherwise. */
static int check_shape(const char *path, const SafeTensors *st, int i, const Tensor *t, NnError *err) {
    const int64_t *shape;
    int nd = safetensors_shape(st, i, &shape);
    if (shape_equal(nd, shape, t->ndim, t->shape)) return 0;
    int nds = nd <= TENSOR_MAX_DIMS ? nd : TENSOR_MAX_DIMS;
    return nn_fail(err, "%s: tensor '%s' has shape %s%s, the model expects %s (was it saved with other settings?)",
                   path, safetensors_name(st, i), shape_str(nds, shape).s, nd > nds ? " (and more dims)" : "",
                   shape_str(t->ndim, t->shape).s);
}

/* Whether every value of stored tensor i is finite; a message naming the tensor otherwise. */
static int check_finite(const char *path, const SafeTensors *st, int i, NnError *err) {
    NnError e;
    if (safetensors_check_finite(st, i, &e) == 0) return 0;
    const char *msg = e.msg, *colon = strstr(e.msg, ": tensor '");
    if (colon) msg = colon + 2; /* the reader names the file by its own label: name it by path */
    return nn_fail(err, "%s: %s", path, msg);
}

static int apply(const SafeTensors *st, const char *path, Module *m, Adam *opt, Sgd *sgd, NnError *err);

int checkpoint_load(const char *path, Module *m, Adam *opt, NnError *err) {
    SafeTensors *st = safetensors_read(path, err);
    if (!st) return -1;
    int rc = apply(st, path, m, opt, NULL, err);
    safetensors_free(st);
    return rc;
}

int checkpoint_load_sgd(const char *path, Module *m, Sgd *sgd, NnError *err) {
    NN_CHECK(sgd != NULL, "checkpoint_load_sgd", "no optimizer given: use checkpoint_load for the model alone");
    SafeTensors *st = safetensors_read(path, err);
    if (!st) return -1;
    int rc = apply(st, path, m, NULL, sgd, err);
    safetensors_free(st);
    return rc;
}

int checkpoint_apply(const SafeTensors *st, const char *path, Module *m, Adam *opt, NnError *err) {
    return apply(st, path, m, opt, NULL, err);
}

/* Which optimizer's state the file holds, and whether the caller's optimizer can take it. */
static int check_kind(const char *path, const char *kind, int has_opt, const Adam *opt, const Sgd *sgd, NnError *err) {
    if (kind && strcmp(kind, "sgd") != 0)
        return nn_fail(err, "%s: metadata %s is \"%s\", expected \"sgd\" (written by a newer version?)", path,
                       OPT_KIND, kind);
    if ((opt || sgd) && !has_opt && !kind)
        return nn_fail(err, "%s: holds no optimizer state (it was saved without one)", path);
    if (opt && !has_opt)
        return nn_fail(err, "%s: holds SGD's momentum buffers, not Adam's state: load it with checkpoint_load_sgd "
                            "and an SGD", path);
    if (sgd && !kind)
        return nn_fail(err, "%s: holds Adam's state, not SGD's momentum buffers: load it with checkpoint_load and "
                            "an Adam", path);
    return 0;
}

/* SGD's buffers in the file: their number, each checked as a parameter is; -1 and a message when one
 * is wrong or the optimizer has no momentum to take them. */
static int count_buffers(const SafeTensors *st, const char *path, const Module *m, const Sgd *sgd, NnError *err) {
    int n = 0;
    for (int i = 0; i < m->n_params; i++) {
        char *full = prefixed(OPT_BUF, m->params[i].name);
        int j = safetensors_find(st, full);
        free(full);
        if (j < 0) continue;
        if (check_shape(path, st, j, m->params[i].value, err) || check_finite(path, st, j, err)) return -1;
        n++;
    }
    if (n && sgd && sgd->cfg.momentum == 0)
        return nn_fail(err, "%s: holds %d momentum buffers, but this SGD has momentum 0 (make it with the "
                            "momentum it was trained with)", path, n);
    return n;
}

/* Loads SGD's buffers: a parameter without one in the file has none (the next step starts it anew). */
static int load_buffers(const SafeTensors *st, Module *m, Sgd *sgd, NnError *err) {
    for (int i = 0; i < m->n_params; i++) {
        char *full = prefixed(OPT_BUF, m->params[i].name);
        int bad = 0;
        if (safetensors_find(st, full) >= 0) {
            const Tensor *p = m->params[i].value;
            if (!sgd->buf[i]) sgd->buf[i] = tensor_zeros(p->ndim, p->shape);
            bad = safetensors_load_into(st, full, sgd->buf[i], err);
        } else {
            tensor_free(sgd->buf[i]);
            sgd->buf[i] = NULL;
        }
        free(full);
        if (bad) return -1;
    }
    return 0;
}

/* The optimizer's step count from its metadata text. */
static int read_step(const char *path, const char *step_text, int64_t *step, NnError *err) {
    char *end;
    long long v = strtoll(step_text, &end, 10);
    if (*step_text == '\0' || *end != '\0' || v < 0)
        return nn_fail(err, "%s: metadata %s is \"%s\", expected a step count", path, OPT_STEP, step_text);
    *step = v;
    return 0;
}

/* The per-parameter skipped steps into skipped; absent in files of older writers: all 0. */
static int read_skipped(const SafeTensors *st, const char *path, const Module *m, int64_t step, int64_t *skipped,
                        NnError *err) {
    const char *p = safetensors_meta(st, OPT_SKIPPED);
    for (int i = 0; p && i < m->n_params; i++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || v > step || (*end != ',' && *end != '\0') || (*end == '\0') != (i == m->n_params - 1))
            return nn_fail(err, "%s: metadata %s must list %d step counts", path, OPT_SKIPPED, m->n_params);
        skipped[i] = v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* Every parameter (and with has_opt its Adam moments) is in the file, of its shape and finite. */
static int check_params(const SafeTensors *st, const char *path, const Module *m, int has_opt, NnError *err) {
    for (int i = 0; i < m->n_params; i++) {
        const char *name = m->params[i].name;
        int k = safetensors_find(st, name);
        if (k < 0)
            return nn_fail(err, "%s: no tensor '%s' (the model has %d parameters; is this a checkpoint of this model?)",
                           path, name, m->n_params);
        if (check_shape(path, st, k, m->params[i].value, err) || check_finite(path, st, k, err)) return -1;
        for (int which = 0; has_opt && which < 2; which++) {
            char *full = prefixed(which ? OPT_V : OPT_M, name);
            int j = safetensors_find(st, full);
            if (j < 0) nn_fail(err, "%s: the optimizer state lacks '%s'", path, full);
            free(full);
            if (j < 0 || check_shape(path, st, j, m->params[i].value, err) || check_finite(path, st, j, err)) return -1;
        }
    }
    return 0;
}

/* The file holds expected tensors; otherwise names the first that belongs to no parameter, or the count. */
static int check_count(const SafeTensors *st, const char *path, const Module *m, int expected, NnError *err) {
    if (safetensors_count(st) == expected) return 0;
    for (int k = 0; k < safetensors_count(st); k++) {
        const char *name = safetensors_name(st, k);
        if (strncmp(name, OPT_M, strlen(OPT_M)) == 0)
            name += strlen(OPT_M);
        else if (strncmp(name, OPT_V, strlen(OPT_V)) == 0)
            name += strlen(OPT_V);
        else if (strncmp(name, OPT_BUF, strlen(OPT_BUF)) == 0)
            name += strlen(OPT_BUF);
        if (!module_find(m, name))
            return nn_fail(err, "%s: tensor '%s' is not a parameter of this model", path, safetensors_name(st, k));
    }
    return nn_fail(err, "%s: %d tensors, expected %d", path, safetensors_count(st), expected);
}

/* Loads the parameters, and with opt Adam's moments. */
static int load_params(const SafeTensors *st, Module *m, Adam *opt, NnError *err) {
    for (int i = 0; i < m->n_params; i++) {
        if (safetensors_load_into(st, m->params[i].name, m->params[i].value, err)) return -1;
        if (opt) {
            char *mn = prefixed(OPT_M, m->params[i].name), *vn = prefixed(OPT_V, m->params[i].name);
            int bad = safetensors_load_into(st, mn, opt->m[i], err) || safetensors_load_into(st, vn, opt->v[i], err);
            free(mn);
            free(vn);
            if (bad) return -1;
        }
    }
    return 0;
}

static int apply(const SafeTensors *st, const char *path, Module *m, Adam *opt, Sgd *sgd, NnError *err) {
    const char *step_text = safetensors_meta(st, OPT_STEP), *kind = safetensors_meta(st, OPT_KIND);
    int has_opt = step_text != NULL;
    if (opt) optim_params_check("checkpoint_load", m, opt->n_params);
    if (sgd) optim_params_check("checkpoint_load_sgd", m, sgd->n_params);
    int expected = m->n_params * (has_opt ? 3 : 1);
    int64_t step = 0;
    if (check_kind(path, kind, has_opt, opt, sgd, err)) return -1;
    if (kind) {
        int n_buf = count_buffers(st, path, m, sgd, err);
        if (n_buf < 0) return -1;
        expected += n_buf;
    }
    if (has_opt && read_step(path, step_text, &step, err)) return -1;
    int64_t *skipped = nn_calloc((size_t)m->n_params + 1, sizeof *skipped);
    /* Check everything before changing anything. */
    int bad = (has_opt && read_skipped(st, path, m, step, skipped, err)) || check_params(st, path, m, has_opt, err) ||
              check_count(st, path, m, expected, err);
    bad = bad || load_params(st, m, opt, err) || (sgd && load_buffers(st, m, sgd, err));
    if (!bad && opt) {
        opt->step = step;
        for (int i = 0; i < m->n_params; i++) opt->skipped[i] = skipped[i];
    }
    free(skipped);
    return bad ? -1 : 0;
}
