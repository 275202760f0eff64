#include "models/sasrec/data/interactions.h"

#include <stdlib.h>
#include <string.h>

#include "base/memory.h"

void interactions_init(Interactions *in, int timed) {
    memset(in, 0, sizeof *in);
    in->timed = timed;
    in->user_map = strmap_new(1024);
    in->item_map = strmap_new(1024);
}

void interactions_free(Interactions *in) {
    for (int32_t i = 0; i < in->n_users; i++) free(in->user_tok[i]);
    for (int32_t i = 0; i < in->n_items; i++) free(in->item_tok[i]);
    free(in->user_tok);
    free(in->user_line);
    free(in->item_tok);
    strmap_free(in->user_map);
    strmap_free(in->item_map);
    free(in->user);
    free(in->item);
    free(in->time);
    memset(in, 0, sizeof *in);
}

static char *copy_token(const char *tok, size_t len) {
    char *s = nn_malloc(len + 1);
    memcpy(s, tok, len);
    s[len] = '\0';
    return s;
}

int32_t interactions_user(Interactions *in, const char *tok, size_t len, int64_t line, int *is_new) {
    int64_t u = strmap_get(in->user_map, tok, len);
    *is_new = u < 0;
    if (u >= 0) return (int32_t)u;
    if (in->n_users == INT32_MAX) return -1;
    if (in->n_users == in->cap_users) {
        in->cap_users = in->cap_users ? (in->cap_users > INT32_MAX / 2 ? INT32_MAX : 2 * in->cap_users) : 1024;
        in->user_tok = nn_realloc(in->user_tok, (size_t)in->cap_users * sizeof *in->user_tok);
        in->user_line = nn_realloc(in->user_line, (size_t)in->cap_users * sizeof *in->user_line);
    }
    char *s = copy_token(tok, len);
    in->user_tok[in->n_users] = s;
    in->user_line[in->n_users] = line;
    strmap_put(in->user_map, s, len, in->n_users);
    return in->n_users++;
}

int32_t interactions_item(Interactions *in, const char *tok, size_t len) {
    int64_t i = strmap_get(in->item_map, tok, len);
    if (i >= 0) return (int32_t)i;
    if (in->n_items == INT32_MAX) return -1;
    if (in->n_items == in->cap_items) {
        in->cap_items = in->cap_items ? (in->cap_items > INT32_MAX / 2 ? INT32_MAX : 2 * in->cap_items) : 1024;
        in->item_tok = nn_realloc(in->item_tok, (size_t)in->cap_items * sizeof *in->item_tok);
    }
    char *s = copy_token(tok, len);
    in->item_tok[in->n_items] = s;
    strmap_put(in->item_map, s, len, in->n_items);
    return in->n_items++;
}

void interactions_add(Interactions *in, int32_t user, int32_t item, TimeKey t) {
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 4096;
        in->user = nn_realloc(in->user, (size_t)in->cap * sizeof *in->user);
        in->item = nn_realloc(in->item, (size_t)in->cap * sizeof *in->item);
        if (in->timed) in->time = nn_realloc(in->time, (size_t)in->cap * sizeof *in->time);
    }
    in->user[in->n] = user;
    in->item[in->n] = item;
    if (in->timed) in->time[in->n] = t;
    in->n++;
}
