#include "base/memory.h"
#include "models/sasrec/cli/resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "models/sasrec/io/regular_file.h"

#define ID_HEADER "sasrec train resume 1"
#define MAX_INPUT ((uint64_t)1 << 50) /* no bound on a data file's size here: dataset_load has its own */
#define MAX_ID    (1 << 20)

/* Whether the flag named by arg (up to '=' if any) takes a value in the next argument. */
static int takes_value(const char *arg) {
    if (strncmp(arg, "--", 2) != 0 || strchr(arg, '=')) return 0;
    RunConfig scratch = config_defaults();
    Flag flags[CONFIG_MAX_FLAGS];
    int n = config_train_flags(&scratch, flags);
    for (int i = 0; i < n; i++)
        if (strcmp(flags[i].name, arg) == 0) return flags[i].type != FLAG_SWITCH;
    return 0;
}

int resume_take_flag(int *n, char **args) {
    int found = 0, out = 0;
    for (int i = 0; i < *n; i++) {
        if (strcmp(args[i], RESUME_FLAG) == 0) {
            found = 1;
            continue;
        }
        args[out++] = args[i];
        if (takes_value(args[i]) && i + 1 < *n) args[out++] = args[++i]; /* its value, whatever it is */
    }
    *n = out;
    return found;
}

static void file_digest(const char *path, const char *absent, char *out, size_t size, int *bad, NnError *err) {
    Sha256Hex d;
    if (!path)
        snprintf(out, size, "%s", absent);
    else if (regular_file_sha256(path, MAX_INPUT, &d, err) == 0)
        snprintf(out, size, "%s", d.s);
    else
        *bad = 1;
}

int resume_id_make(ResumeId *id, const RunConfig *c, int n, char *const *args, NnError *err) {
    memset(id, 0, sizeof *id);
    int bad = 0;
    file_digest(c->data, "built-in", id->data, sizeof id->data, &bad, err);
    if (!bad) file_digest(c->sample_file, "none", id->samples, sizeof id->samples, &bad, err);
    if (bad) return -1;
    id->shards = c->train.shards;
    id->argc = n;
    id->argv = nn_calloc((size_t)(n ? n : 1), sizeof *id->argv);
    for (int i = 0; i < n; i++) {
        id->argv[i] = nn_malloc(strlen(args[i]) + 1);
        strcpy(id->argv[i], args[i]);
    }
    return 0;
}

/* An argument on one line: backslash and newline escaped. */
static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++)
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
}

int resume_id_write(const char *dir, const ResumeId *id, NnError *err) {
    char path[4096];
    config_path(path, sizeof path, dir, RESUME_ID_FILE);
    AtomicFile *af = atomic_open(path, err);
    if (!af) return -1;
    FILE *f = atomic_stream(af);
    fprintf(f, ID_HEADER "\ndata %s\nsamples %s\nshards %d\n", id->data, id->samples, id->shards);
    for (int i = 0; i < id->argc; i++) {
        fputs("arg ", f);
        put_escaped(f, id->argv[i]);
        fputc('\n', f);
    }
    return atomic_commit(af, err);
}

/* One line of an identity file (escapes undone) into a new string; NULL if it does not start with key. */
static char *take_line(char **cursor, const char *key) {
    char *line = *cursor, *end = strchr(line, '\n');
    size_t klen = strlen(key);
    if (!end || strncmp(line, key, klen) != 0) return NULL;
    *cursor = end + 1;
    char *out = nn_malloc((size_t)(end - line) + 1), *o = out;
    for (const char *s = line + klen; s < end; s++) {
        if (*s == '\\' && s + 1 < end) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

int resume_id_read(const char *dir, ResumeId *id, NnError *err) {
    memset(id, 0, sizeof *id);
    char path[4096], *buf;
    size_t len;
    config_path(path, sizeof path, dir, RESUME_ID_FILE);
    if (regular_file_read(path, MAX_ID, &buf, &len, err)) return -1;
    char *cursor = buf, *header = take_line(&cursor, ID_HEADER), *data = header ? take_line(&cursor, "data ") : NULL;
    char *samples = data ? take_line(&cursor, "samples ") : NULL;
    char *shards = samples ? take_line(&cursor, "shards ") : NULL;
    int ok = shards && strlen(data) < sizeof id->data && strlen(samples) < sizeof id->samples &&
             sscanf(shards, "%d", &id->shards) == 1;
    if (ok) {
        strcpy(id->data, data);
        strcpy(id->samples, samples);
        id->argv = nn_calloc(len + 1, sizeof *id->argv);
        char *arg;
        while ((arg = take_line(&cursor, "arg "))) id->argv[id->argc++] = arg;
        ok = *cursor == '\0';
    }
    free(header);
    free(data);
    free(samples);
    free(shards);
    free(buf);
    if (ok) return 0;
    resume_id_free(id);
    return nn_fail(err, "%s is not a run identity this program wrote", path);
}

/* The flags compared, as (name, value) pairs; "--name=value" and "--name value" alike. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
} FlagValue;

static int compared(const char *name, size_t len) {
    static const char *const skip[] = {"--data", "--sample-file", "--out", "--threads", "--force"};
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (strlen(skip[i]) == len && strncmp(name, skip[i], len) == 0) return 0;
    return 1;
}

static int flag_values(const ResumeId *id, FlagValue *out) {
    int n = 0;
    for (int i = 0; i < id->argc; i++) {
        const char *a = id->argv[i], *eq = strchr(a, '=');
        FlagValue v = {a, eq && strncmp(a, "--", 2) == 0 ? (size_t)(eq - a) : strlen(a), ""};
        if (eq && strncmp(a, "--", 2) == 0)
            v.value = eq + 1;
        else if (takes_value(a) && i + 1 < id->argc)
            v.value = id->argv[++i];
        if (compared(v.name, v.name_len)) out[n++] = v;
    }
    return n;
}

/* The value of the last occurrence of name among v (n), or NULL. */
static const char *value_of(const FlagValue *v, int n, const FlagValue *name) {
    for (int i = n - 1; i >= 0; i--)
        if (v[i].name_len == name->name_len && strncmp(v[i].name, name->name, name->name_len) == 0) return v[i].value;
    return NULL;
}

static void append(NnError *err, int *differ, const char *fmt, const char *a, size_t alen, const char *b,
                   const char *c) {
    size_t used = strlen(err->msg);
    if ((*differ)++) used += (size_t)snprintf(err->msg + used, sizeof err->msg - used, ";");
    if (used < sizeof err->msg) snprintf(err->msg + used, sizeof err->msg - used, fmt, (int)alen, a, b, c);
}

/* Each flag of x (nx) whose value in y differs, or that y lacks. */
static void diff_flags(const FlagValue *x, int nx, const FlagValue *y, int ny, int x_is_then, NnError *err,
                       int *differ) {
    for (int i = 0; i < nx; i++) {
        if (value_of(x, nx, &x[i]) != x[i].value) continue; /* not the last occurrence */
        const char *other = value_of(y, ny, &x[i]);
        if (!other)
            append(err, differ, x_is_then ? " %.*s%s%s was given then, not now" : " %.*s%s%s is given now, not then",
                   x[i].name, x[i].name_len, x[i].value[0] ? " " : "", x[i].value);
        else if (x_is_then && strcmp(other, x[i].value) != 0)
            append(err, differ, " %.*s was %s, now %s", x[i].name, x[i].name_len, x[i].value, other);
    }
}

int resume_id_compare(const ResumeId *then, const ResumeId *now, NnError *err) {
    FlagValue *a = nn_calloc((size_t)then->argc + 1, sizeof *a), *b = nn_calloc((size_t)now->argc + 1, sizeof *b);
    int na = flag_values(then, a), nb = flag_values(now, b), differ = 0;
    nn_fail(err, "train --resume: the unfinished run was started with other settings or data:");
    if (strcmp(then->data, now->data) != 0)
        append(err, &differ, " %.*s's content differs (SHA-256 %.12s... then, %.12s... now)", "--data", 6,
               then->data, now->data);
    if (strcmp(then->samples, now->samples) != 0)
        append(err, &differ, " %.*s's content differs (%.12s... then, %.12s... now)", "--sample-file", 13,
               then->samples, now->samples);
    if (then->shards != now->shards) {
        char t[16], w[16];
        snprintf(t, sizeof t, "%d", then->shards);
        snprintf(w, sizeof w, "%d", now->shards);
        append(err, &differ, " %.*s ran with %s, now %s (its default differs between builds with and without MPI)",
               "--shards", 8, t, w);
    }
    diff_flags(a, na, b, nb, 1, err, &differ);
    diff_flags(b, nb, a, na, 0, err, &differ);
    free(a);
    free(b);
    if (!differ) return 0;
    size_t used = strlen(err->msg);
    snprintf(err->msg + used, sizeof err->msg - used,
             "; give the same flags and data to resume it, or run without --resume to start anew");
    return -1;
}

/* arg quoted for a POSIX shell when it needs it. */
static void put_quoted(char *buf, size_t size, size_t *used, const char *arg) {
    int plain = *arg != '\0';
    for (const char *s = arg; *s; s++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./=:,+@%", *s)) plain = 0;
    const char *parts[3] = {" ", plain ? "" : "'", arg};
    for (int k = 0; k < 2; k++)
        if (*used < size) *used += (size_t)snprintf(buf + *used, size - *used, "%s", parts[k]);
    for (const char *s = arg; *s && *used < size; s++)
        *used += (size_t)snprintf(buf + *used, size - *used, plain || *s != '\'' ? "%c" : "'\\''", *s);
    if (!plain && *used < size) *used += (size_t)snprintf(buf + *used, size - *used, "'");
}

void resume_command(const ResumeId *id, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "sasrec train");
    for (int i = 0; i < id->argc; i++) put_quoted(buf, size, &used, id->argv[i]);
    if (used < size) snprintf(buf + used, size - used, " " RESUME_FLAG);
}

void resume_id_free(ResumeId *id) {
    for (int i = 0; i < id->argc; i++) free(id->argv[i]);
    free(id->argv);
    memset(id, 0, sizeof *id);
}
