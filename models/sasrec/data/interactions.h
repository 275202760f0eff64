/* Raw interactions as read from a file, before users are filtered and items
 * numbered (dataset.c does that). Tokens are interned: each distinct user and
 * item token is copied once and numbered in order of first appearance. */
#ifndef NN_MODELS_SASREC_DATA_INTERACTIONS_H
#define NN_MODELS_SASREC_DATA_INTERACTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "models/sasrec/io/strmap.h"
#include "models/sasrec/data/timekey.h"

typedef struct {
    int32_t n_users, cap_users;
    char **user_tok;    /* (n_users) owned copies */
    int64_t *user_line; /* (n_users) line of the user's first appearance */
    StrMap *user_map;   /* token -> index */
    int32_t n_items, cap_items;
    char **item_tok;  /* (n_items) owned copies */
    StrMap *item_map; /* token -> index */
    int64_t n, cap;   /* interactions, in file order */
    int32_t *user;    /* (n) user index */
    int32_t *item;    /* (n) raw item index */
    TimeKey *time;    /* (n) for timed formats, else NULL */
    int timed;
    int64_t n_lines; /* data lines read */
} Interactions;

/* An empty set; timed: whether interactions carry a time. */
void interactions_init(Interactions *in, int timed);
/* Releases the tokens still owned (dataset.c takes the ones it keeps by setting them NULL). */
void interactions_free(Interactions *in);
/* Index of a user token, interning it (remembering line) when new; *is_new tells which.
 * -1 when there are already INT32_MAX users. */
int32_t interactions_user(Interactions *in, const char *tok, size_t len, int64_t line, int *is_new);
/* Index of an item token, interning it when new; -1 when there are already INT32_MAX items. */
int32_t interactions_item(Interactions *in, const char *tok, size_t len);
/* Appends one interaction (t is ignored unless timed). */
void interactions_add(Interactions *in, int32_t user, int32_t item, TimeKey t);

#endif
