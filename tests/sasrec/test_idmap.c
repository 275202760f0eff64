/* The id maps of a model folder, items.txt and users.txt
 * (models/sasrec/data/idmap.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/data/idmap.h"
#include "tests/sasrec/fixture.h"

/* ---- id maps ---- */

START_TEST(idmap_round_trip) {
    Dataset ds, vocab, again;
    LOAD_OK(
        "ids.csv",
        "user,item,time\n\"a, b\",x y,1\n\"a, b\",-5,2\n\"a, b\",0,3\nz\xC3\xA9,0,1\nz\xC3\xA9,q,2\nz\xC3\xA9,-5,3\n",
        NULL, &ds);
    NnError err;
    ck_assert_msg(idmap_write(fixture_dir, &ds, &err) == 0, "%s", err.msg);
    ck_assert_msg(idmap_read_items(fixture_dir, &vocab, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(vocab.n_items, ds.n_items);
    ck_assert_int_eq(vocab.n_users, 0);
    for (int64_t i = 1; i <= ds.n_items; i++) ck_assert_str_eq(vocab.item_ids[i], ds.item_ids[i]);
    /* the vocabulary fixes the ids of a later load, whatever the order of first appearance */
    ck_assert_msg(dataset_load(PUT("later.txt", "w q 0 -5\n"), NULL, &vocab, &again, &err) == 0, "%s", err.msg);
    int64_t len;
    const int32_t *s = dataset_seq(&again, 0, &len);
    ck_assert_int_eq(s[0], dataset_item_id(&ds, "q", 1));
    ck_assert_int_eq(s[1], dataset_item_id(&ds, "0", 1));
    ck_assert_int_eq(s[2], dataset_item_id(&ds, "-5", 2));
    /* users.txt holds the users in order */
    char path[512];
    snprintf(path, sizeof path, "%s/users.txt", fixture_dir);
    FILE *f = fopen(path, "rb");
    char buf[64] = {0};
    ck_assert_uint_eq(fread(buf, 1, sizeof buf - 1, f), strlen("a, b\nz\xC3\xA9\n"));
    fclose(f);
    ck_assert_str_eq(buf, "a, b\nz\xC3\xA9\n");
    dataset_free(&again);
    dataset_free(&vocab);
    dataset_free(&ds);
}
END_TEST

START_TEST(idmap_refusals) {
    Dataset vocab;
    NnError err;
    ck_assert_int_eq(idmap_read_items(fixture_dir, &vocab, &err), -1); /* no items.txt */
    ck_assert_msg(strstr(err.msg, "cannot open") && strstr(err.msg, "items.txt"), "%s", err.msg);
    PUT("items.txt", "a\r\nb\n\nc\n");
    ck_assert_int_eq(idmap_read_items(fixture_dir, &vocab, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt:3: an empty line") && strstr(err.msg, "line k holding the id of item k"),
                  "%s", err.msg);
    PUT("items.txt", "a\nb\na\n");
    ck_assert_int_eq(idmap_read_items(fixture_dir, &vocab, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt: item \"a\" appears twice (ids 1 and 3)"), "%s", err.msg);
    PUT("items.txt", "");
    ck_assert_int_eq(idmap_read_items(fixture_dir, &vocab, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt is empty"), "%s", err.msg);
    PUT("items.txt", "a\nb\0\n");
    ck_assert_int_eq(idmap_read_items(fixture_dir, &vocab, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt:2:2: a NUL byte"), "%s", err.msg);
    PUT("items.txt", " a \nb"); /* spaces kept, last line without LF */
    ck_assert_msg(idmap_read_items(fixture_dir, &vocab, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(vocab.n_items, 2);
    ck_assert_str_eq(vocab.item_ids[1], " a ");
    ck_assert_str_eq(vocab.item_ids[2], "b");
    dataset_free(&vocab);
    /* a leading U+FEFF is the first id's, not a byte order mark: our own lists are read exactly (issue 22) */
    PUT("items.txt", "\xEF\xBB\xBF" "a\na\n");
    ck_assert_msg(idmap_read_items(fixture_dir, &vocab, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(vocab.item_ids[1], "\xEF\xBB\xBF" "a");
    ck_assert_str_eq(vocab.item_ids[2], "a");
    dataset_free(&vocab);
    /* an id with a line break cannot be written */
    Dataset ds = {0};
    char *items[3] = {NULL, "ok", "two\nlines"}, *users[1] = {"u"};
    ds.n_items = 2;
    ds.n_users = 1;
    ds.item_ids = items;
    ds.user_ids = users;
    ck_assert_int_eq(idmap_write(fixture_dir, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "item \"two\\x0Alines\" holds a line break"), "%s", err.msg);
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no/such/dir", fixture_dir);
    items[2] = "fine";
    ck_assert_int_eq(idmap_write(missing, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt"), "%s", err.msg);
}
END_TEST

static Suite *idmap_suite(void) {
    Suite *s = suite_create("idmap");
    TCase *tc = fixture_tcase("idmap");
    tcase_add_test(tc, idmap_round_trip);
    tcase_add_test(tc, idmap_refusals);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(idmap_suite)
