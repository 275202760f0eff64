/* Interaction data: loading the five file formats and mapping raw ids.
 *
 * Formats (docs/sasrec.md, section 1):
 *   seq    one user per line: "user item item ...", items in time order
 *   pairs  one interaction per line: "user item", in time order
 *   csv    comma separated with a header; user, item and time columns by name
 *   dat    MovieLens ratings.dat: user::item::rating::time
 *   udata  MovieLens u.data: user<TAB>item<TAB>rating<TAB>time
 * FORMAT_AUTO detects: first data line with a comma -> csv; with "::" -> dat;
 * with 4 tab-separated fields -> udata; every line 2 whitespace-separated
 * tokens -> pairs; otherwise seq.
 *
 * Ids are opaque tokens ("A1B2", "0", "-5" are all just names). Users are kept
 * in order of first appearance in the file; items get internal ids 1..n_items
 * in order of first appearance among the kept users' (time-sorted) sequences;
 * 0 is padding. csv, dat and udata are sorted per user by time, stably (ties
 * keep file order); seq keeps line order, pairs file order. A repeated
 * interaction (same user, same item) is kept and counted in `duplicates`.
 * A user on two lines of a seq file is an error: seq files have one line per
 * user, and merging would hide a file that was concatenated twice.
 *
 * Bad input (an empty file, missing or extra columns, empty ids, a time that
 * is not a finite number, binary bytes, no user with enough interactions, ...)
 * returns -1 with a message naming the file, the line, the column where it
 * helps, and what was expected. Lines may be of any length; an id is at most
 * DATASET_MAX_ID_BYTES bytes. */
#ifndef NN_MODELS_SASREC_DATA_DATASET_H
#define NN_MODELS_SASREC_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "models/sasrec/data/timekey.h"

#define DATASET_MAX_ID_BYTES     4096
#define DATASET_MIN_INTERACTIONS 3 /* train, valid and test need one item each */

/* FORMAT_SYNTHETIC marks data made by synthetic.h; it is not a file format. */
typedef enum {
    FORMAT_AUTO,
    FORMAT_SEQ,
    FORMAT_PAIRS,
    FORMAT_CSV,
    FORMAT_DAT,
    FORMAT_UDATA,
    FORMAT_SYNTHETIC
} DataFormat;

typedef struct {
    DataFormat format;                          /* FORMAT_AUTO: detect */
    const char *user_col, *item_col, *time_col; /* csv column names (exact); NULL: find user/userId,
                                                   item/itemId/movieId, time/timestamp (any case) */
    int min_interactions;                       /* users with fewer are skipped and counted */
} LoadOptions;

typedef struct StrMap StrMap;

typedef struct {
    int64_t n_users, n_items; /* kept users; items are 1..n_items, 0 is padding */
    char **user_ids;          /* (n_users) raw user tokens */
    char **item_ids;          /* (n_items + 1) raw item tokens; [0] is NULL */
    int64_t *seq_start;       /* (n_users + 1) offsets into items: user u is items[seq_start[u]..seq_start[u+1]) */
    int32_t *items;           /* (seq_start[n_users]) every user's sequence, in time order */
    TimeKey *time;            /* (seq_start[n_users]) the time of each of items; NULL for data without times
                                 (seq, pairs, synthetic) */
    StrMap *user_map;         /* raw user token -> user index */
    StrMap *item_map;         /* raw item token -> internal item id */
    /* for the summary */
    DataFormat format;                           /* as detected */
    int min_interactions;                        /* the filter applied */
    int64_t n_lines;                             /* data lines read (no header, no blank lines) */
    int64_t n_interactions;                      /* in the kept users' sequences */
    int64_t skipped_users, skipped_interactions; /* users with too few interactions, and theirs */
    int64_t duplicates;    /* interactions repeating an item earlier in the same user's sequence */
    int64_t unknown_items; /* interactions dropped because item_vocab lacks the item */
} Dataset;

/* The defaults: FORMAT_AUTO, columns found by name, min_interactions 3. */
LoadOptions dataset_default_options(void);
/* Loads path into out. opt NULL: defaults. item_vocab non-NULL: items keep its ids (a trained
 * model's), interactions with other items are dropped and counted in unknown_items. */
int dataset_load(const char *path, const LoadOptions *opt, const Dataset *item_vocab, Dataset *out, NnError *err);
/* dataset_load on bytes in memory (not NUL-terminated); name stands for the path in messages. */
int dataset_load_buffer(const char *name, const char *data, size_t size, const LoadOptions *opt,
                        const Dataset *item_vocab, Dataset *out, NnError *err);
/* Releases everything a Dataset owns and zeroes it. A zeroed Dataset is fine. */
void dataset_free(Dataset *ds);

/* The sequence of user u: *len items (internal ids) in time order. */
const int32_t *dataset_seq(const Dataset *ds, int64_t u, int64_t *len);
/* The distinct items of user u, ascending, into out (room for the user's sequence); returns how many. */
int64_t dataset_user_items(const Dataset *ds, int64_t u, int32_t *out);
/* Whether item is in set[0..n) (ascending): a binary search. */
int dataset_items_contain(const int32_t *set, int64_t n, int32_t item);
/* Internal id of a raw item token, or 0 when unknown. */
int32_t dataset_item_id(const Dataset *ds, const char *raw, size_t len);
/* Index of a raw user token, or -1 when not among the kept users. */
int64_t dataset_user_index(const Dataset *ds, const char *raw, size_t len);
/* Builds user_map and item_map from user_ids and item_ids (for code that fills a Dataset itself);
 * -1 naming the first repeated id. */
int dataset_build_maps(Dataset *ds, NnError *err);

/* "auto", "seq", "pairs", "csv", "dat", "udata", "synthetic". */
const char *dataset_format_name(DataFormat f);
/* Parses a file format name (auto, seq, pairs, csv, dat, udata); -1 with the list of names when unknown. */
int dataset_format_parse(const char *name, DataFormat *out, NnError *err);
/* One line for people: format, users, items, interactions, average length, what was skipped. */
void dataset_summary(const Dataset *ds, char *buf, size_t size);

#endif
