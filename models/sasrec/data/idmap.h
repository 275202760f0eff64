/* The raw ids of a trained model's data, kept in its folder so that eval and
 * predict map a file's tokens to the same internal ids and write raw ids out.
 *
 *   DIR/items.txt   line k holds the raw id of internal item k (k = 1..n_items)
 *   DIR/users.txt   line k holds the raw id of user index k - 1
 *
 * One id per line, verbatim (only the line end, LF or CRLF, is not part of
 * it), UTF-8, read back exactly: no byte order mark is written, and none is
 * skipped when reading (an id may begin with U+FEFF). Files are written
 * atomically (io/atomic_file.h) into an existing folder. An id holding a line
 * break cannot be written and is refused. */
#ifndef NN_MODELS_SASREC_DATA_IDMAP_H
#define NN_MODELS_SASREC_DATA_IDMAP_H

#include <stddef.h>

#include "models/sasrec/data/dataset.h"
#include "base/error.h"

#define IDMAP_ITEMS "items.txt"
#define IDMAP_USERS "users.txt"

/* Writes DIR/items.txt and DIR/users.txt for ds. */
int idmap_write(const char *dir, const Dataset *ds, NnError *err);
/* Reads DIR/items.txt into vocab: items and item_map only (n_users 0), usable as dataset_load's item_vocab. */
int idmap_read_items(const char *dir, Dataset *vocab, NnError *err);
/* idmap_read_items on the bytes of an items.txt in memory; name stands for the path in messages. */
int idmap_read_items_buffer(const char *name, const char *data, size_t size, Dataset *vocab, NnError *err);

#endif
