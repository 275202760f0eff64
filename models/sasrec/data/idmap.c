#include "models/sasrec/data/idmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "io/atomic_file.h"
#include "models/sasrec/io/textfile.h"
#include "io/utf8.h"

static char *join(const char *dir, const char *file) {
    size_t a = strlen(dir), b = strlen(file);
    char *p = nn_malloc(a + b + 2);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, file, b + 1);
    return p;
}

/* Writes ids[first..first+n), one per line, atomically to path. */
static int write_list(const char *path, char *const *ids, int64_t first, int64_t n, const char *what, NnError *err) {
    for (int64_t k = first; k < first + n; k++) {
        if (!ids[k][0] || strpbrk(ids[k], "\r\n")) {
            return nn_fail(err, "cannot write %s: %s \"%s\" %s, which a one-id-per-line list cannot hold", path, what,
                           utf8_quote(ids[k], strlen(ids[k]), 60).s, ids[k][0] ? "holds a line break" : "is empty");
        }
    }
    AtomicFile *af = atomic_open(path, err);
    if (!af) return -1;
    FILE *fp = atomic_stream(af);
    for (int64_t k = first; k < first + n; k++) {
        fputs(ids[k], fp);
        fputc('\n', fp);
    }
    return atomic_commit(af, err);
}

int idmap_write(const char *dir, const Dataset *ds, NnError *err) {
    char *items = join(dir, IDMAP_ITEMS), *users = join(dir, IDMAP_USERS);
    int rc = write_list(items, ds->item_ids, 1, ds->n_items, "item", err);
    if (rc == 0) rc = write_list(users, ds->user_ids, 0, ds->n_users, "user", err);
    free(items);
    free(users);
    return rc;
}

int idmap_read_items_buffer(const char *name, const char *data, size_t size, Dataset *vocab, NnError *err) {
    memset(vocab, 0, sizeof *vocab);
    TextFile f;
    textfile_wrap_exact(name, data, size, &f); /* ours: a leading U+FEFF belongs to the first id */
    if (textfile_check(&f, err)) return -1;
    int64_t lines = 0;
    for (size_t i = 0; i < f.size; i++) lines += f.data[i] == '\n';
    if (f.size && f.data[f.size - 1] != '\n') lines++; /* a last line without its line end */
    if (lines == 0)
        return nn_fail(err, "%s is empty; expected one raw item id per line (line k holds the id of item k)", name);
    vocab->item_ids = nn_calloc((size_t)lines + 1, sizeof *vocab->item_ids);
    const char *p = f.data, *end = f.data + f.size;
    for (int64_t k = 1; k <= lines; k++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len && p[len - 1] == '\r') len--;
        if (len == 0 || len > DATASET_MAX_ID_BYTES) {
            dataset_free(vocab);
            return nn_fail(err,
                           "%s:%lld: %s; expected one raw item id (at most %d bytes) per line, line k holding "
                           "the id of item k",
                           name, (long long)k, len ? "an id that is too long" : "an empty line", DATASET_MAX_ID_BYTES);
        }
        vocab->item_ids[k] = memcpy(nn_malloc(len + 1), p, len);
        vocab->item_ids[k][len] = '\0';
        vocab->n_items = k;
        p = nl ? nl + 1 : end;
    }
    NnError dup;
    if (dataset_build_maps(vocab, &dup)) {
        nn_fail(err, "%s: %s (ids are line numbers)", name, dup.msg);
        dataset_free(vocab);
        return -1;
    }
    return 0;
}

int idmap_read_items(const char *dir, Dataset *vocab, NnError *err) {
    char *path = join(dir, IDMAP_ITEMS);
    TextFile f;
    memset(vocab, 0, sizeof *vocab);
    int rc = textfile_read_exact(path, &f, err);
    if (rc == 0) {
        rc = idmap_read_items_buffer(path, f.data, f.size, vocab, err);
        textfile_free(&f);
    }
    free(path);
    return rc;
}
