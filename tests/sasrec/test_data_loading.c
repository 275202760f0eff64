/* The SASRec data files: the five formats and their detection, bad input and
 * its messages (one test per class, each naming file, line and what was
 * expected), the item vocabulary of a trained model, and the parsing blocks
 * under them (time keys, CSV fields): models/sasrec/data/dataset.c,
 * formats.c, timekey.c and io/csv.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/io/csv.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/data/timekey.h"
#include "tests/sasrec/fixture.h"

static LoadOptions fmt_opt(DataFormat f) {
    LoadOptions o = dataset_default_options();
    o.format = f;
    return o;
}

/* Loading must fail with a message holding each of the substrings (NULL-terminated). */
static void expect_error_v(const char *name, const char *text, size_t len, const LoadOptions *opt,
                           const char *const *subs) {
    NnError err = {0};
    Dataset ds;
    int rc = dataset_load(put(name, text, len), opt, NULL, &ds, &err);
    ck_assert_msg(rc == -1, "loading %s should have failed", name);
    for (int i = 0; subs[i]; i++)
        ck_assert_msg(strstr(err.msg, subs[i]), "message for %s lacks \"%s\": %s", name, subs[i], err.msg);
    ck_assert_ptr_null(ds.items);
}
#define EXPECT_ERROR(name, literal, opt, ...)                                                                          \
    expect_error_v(name, literal, sizeof(literal) - 1, opt, (const char *const[]){__VA_ARGS__, NULL})

/* User u of ds is `user` with the raw items of `items` (space separated), in this order. */
static void expect_seq(const Dataset *ds, int64_t u, const char *user, const char *items) {
    ck_assert_str_eq(ds->user_ids[u], user);
    int64_t len;
    const int32_t *s = dataset_seq(ds, u, &len);
    char got[1024] = "";
    for (int64_t k = 0; k < len; k++) {
        ck_assert(s[k] >= 1 && s[k] <= ds->n_items);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " " : "", ds->item_ids[s[k]]);
    }
    ck_assert_msg(strcmp(got, items) == 0, "user %s: got \"%s\", expected \"%s\"", user, got, items);
}

/* ---- loaders ---- */

START_TEST(seq_loads_in_line_order) {
    Dataset ds;
    LOAD_OK("s.txt", "u1 a b c\nu2 c d e f\nu3 b a b\n", NULL, &ds);
    ck_assert_int_eq(ds.format, FORMAT_SEQ);
    ck_assert_int_eq(ds.n_users, 3);
    ck_assert_int_eq(ds.n_items, 6);
    ck_assert_int_eq(ds.n_interactions, 10);
    ck_assert_int_eq(ds.n_lines, 3);
    expect_seq(&ds, 0, "u1", "a b c");
    expect_seq(&ds, 1, "u2", "c d e f");
    expect_seq(&ds, 2, "u3", "b a b");
    ck_assert_int_eq(ds.duplicates, 1); /* u3's second b */
    /* ids by first appearance */
    ck_assert_str_eq(ds.item_ids[1], "a");
    ck_assert_str_eq(ds.item_ids[4], "d");
    ck_assert_int_eq(dataset_item_id(&ds, "e", 1), 5);
    ck_assert_int_eq(dataset_item_id(&ds, "zz", 2), 0);
    ck_assert_int_eq(dataset_user_index(&ds, "u2", 2), 1);
    ck_assert_int_eq(dataset_user_index(&ds, "u9", 2), -1);
    dataset_free(&ds);
}
END_TEST

START_TEST(pairs_keep_file_order) {
    Dataset ds;
    LOAD_OK("p.txt", "u1 x\nu2 y\nu1 y\nu1 z\nu2 x\nu2 z\n", NULL, &ds);
    ck_assert_int_eq(ds.format, FORMAT_PAIRS);
    ck_assert_int_eq(ds.n_users, 2);
    expect_seq(&ds, 0, "u1", "x y z");
    expect_seq(&ds, 1, "u2", "y x z");
    ck_assert_str_eq(ds.item_ids[1], "x");
    ck_assert_str_eq(ds.item_ids[2], "y");
    ck_assert_int_eq(ds.n_lines, 6);
    dataset_free(&ds);
}
END_TEST

START_TEST(csv_sorts_by_time_stably_with_string_ids) {
    Dataset ds;
    /* "0" and "-5" are tokens; times unsorted, with ties that keep file order; decimals and negatives */
    LOAD_OK("r.csv",
            "user,item,time\n"
            "B00X,0,30\n"
            "-5,B00X,2.5\n"
            "B00X,-5,10\n"
            "-5,0,-1\n"
            "B00X,0,10\n"
            "-5,item 7,2.25\n"
            "B00X,z,10\n",
            NULL, &ds);
    ck_assert_int_eq(ds.format, FORMAT_CSV);
    expect_seq(&ds, 0, "B00X", "-5 0 z 0");
    expect_seq(&ds, 1, "-5", "0 item 7 B00X");
    ck_assert_int_eq(ds.duplicates, 1);
    /* items numbered by first appearance in the sorted sequences of users in file order */
    ck_assert_str_eq(ds.item_ids[1], "-5");
    ck_assert_str_eq(ds.item_ids[2], "0");
    ck_assert_str_eq(ds.item_ids[3], "z");
    ck_assert_str_eq(ds.item_ids[4], "item 7");
    ck_assert_str_eq(ds.item_ids[5], "B00X");
    dataset_free(&ds);
}
END_TEST

START_TEST(csv_movielens_columns_and_quotes) {
    Dataset ds;
    LOAD_OK("ratings.csv",
            "userId,movieId,rating,timestamp\n"
            "1,\"Heat, 1995\",4.0,964982703\n"
            "1,\"say \"\"hi\"\"\",4.0,964981247\n"
            " 1 , 6 ,4.0, 964982224 \n"
            "2,\"Heat, 1995\",,5\n"
            "2, \"6\" ,3.5,6\n"
            "2,\"say \"\"hi\"\"\",3.5,4\n",
            NULL, &ds);
    ck_assert_int_eq(ds.n_users, 2);
    expect_seq(&ds, 0, "1", "say \"hi\" 6 Heat, 1995");
    expect_seq(&ds, 1, "2", "say \"hi\" Heat, 1995 6");
    ck_assert_int_eq(ds.n_items, 3);
    dataset_free(&ds);
}
END_TEST

START_TEST(csv_named_columns) {
    LoadOptions o = dataset_default_options();
    o.user_col = "who";
    o.item_col = "what";
    o.time_col = "when";
    Dataset ds;
    LOAD_OK("named.csv", "what,when,who\nx,3,a\ny,1,a\nz,2,a\n", &o, &ds);
    expect_seq(&ds, 0, "a", "y z x");
    dataset_free(&ds);
    /* found by name in any case; other columns ignored */
    LOAD_OK("case.csv", "Time,extra,USERID,ItemId\n3,,a,x\n1,?,a,y\n2,,a,z\n", NULL, &ds);
    expect_seq(&ds, 0, "a", "y z x");
    dataset_free(&ds);
}
END_TEST

START_TEST(dat_sorts_by_time) {
    Dataset ds;
    LOAD_OK("ratings.dat", "1::10::5::300\n1::20::3::100\n2::10::4::5\n1::30::1::200\n2::40::4::1\n2::30::2::9\n", NULL,
            &ds);
    ck_assert_int_eq(ds.format, FORMAT_DAT);
    expect_seq(&ds, 0, "1", "20 30 10");
    expect_seq(&ds, 1, "2", "40 10 30");
    dataset_free(&ds);
}
END_TEST

START_TEST(udata_sorts_by_time) {
    Dataset ds;
    LOAD_OK("u.data",
            "196\t242\t3\t881250949\n196\t302\t3\t881250000\n186\t302\t3.5\t891717742\n"
            "196\t377\t1\t881250950\n186\t242\t3\t1\n186\t1\t3\t2\n",
            NULL, &ds);
    ck_assert_int_eq(ds.format, FORMAT_UDATA);
    expect_seq(&ds, 0, "196", "302 242 377");
    expect_seq(&ds, 1, "186", "242 1 302");
    dataset_free(&ds);
}
END_TEST

START_TEST(detects_each_format) {
    struct {
        const char *text;
        DataFormat fmt;
    } cases[] = {
        {"u a b c\nv a b c d\n", FORMAT_SEQ},
        {"u a\nu b\nu c\n", FORMAT_PAIRS},
        {"u\ta\nu\tb\nu\tc\n", FORMAT_PAIRS},
        {"u a\nu b\nu c d\nu e\n", FORMAT_SEQ}, /* one line with 3 tokens: seq (then u repeats: an error) */
        {"user,item,time\nu,a,1\nu,b,2\nu,c,3\n", FORMAT_CSV},
        {"u::a::1::1\nu::b::1::2\nu::c::1::3\n", FORMAT_DAT},
        {"u\ta\t1\t1\nu\tb\t1\t2\nu\tc\t1\t3\n", FORMAT_UDATA},
        {"\n\n  \nu a b c\n", FORMAT_SEQ},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        NnError err = {0};
        Dataset ds;
        int rc = dataset_load(put("d.txt", cases[c].text, strlen(cases[c].text)), NULL, NULL, &ds, &err);
        if (c == 3) { /* detected as seq, so the repeated user is refused, and the message says why seq */
            ck_assert_int_eq(rc, -1);
            ck_assert_msg(strstr(err.msg, "read as seq because") && strstr(err.msg, "line 3 has 3 tokens") &&
                              strstr(err.msg, "--format"),
                          "%s", err.msg);
            continue;
        }
        ck_assert_msg(rc == 0, "case %zu: %s", c, err.msg);
        ck_assert_msg(ds.format == cases[c].fmt, "case %zu: detected %s, expected %s", c,
                      dataset_format_name(ds.format), dataset_format_name(cases[c].fmt));
        dataset_free(&ds);
    }
}
END_TEST

START_TEST(forced_format_overrides_detection) {
    LoadOptions o = fmt_opt(FORMAT_SEQ);
    o.min_interactions = 1;
    Dataset ds;
    LOAD_OK("p.txt", "u a\nv b\n", &o, &ds); /* pairs-like, read as seq: users with one item each */
    ck_assert_int_eq(ds.format, FORMAT_SEQ);
    ck_assert_int_eq(ds.n_users, 2);
    expect_seq(&ds, 1, "v", "b");
    dataset_free(&ds);
    o.format = FORMAT_PAIRS; /* seq-like, read as pairs: the 3-token line is refused */
    EXPECT_ERROR("s.txt", "u a b c\n", &o, "s.txt:1:", "more than 2 fields", "expected \"user item\"");
}
END_TEST

START_TEST(accepts_crlf_bom_blank_lines_trailing_space) {
    Dataset clean, messy;
    LOAD_OK("clean.csv", "user,item,time\nu,a,1\nu,b,2\nu,c,3\nv,c,1\nv,a,2\nv,d,3\n", NULL, &clean);
    LOAD_OK("messy.csv",
            "\xEF\xBB\xBFuser,item,time \r\n\r\n  \r\nu,c,3\t\r\nu,a,1\r\n\r\nv,d,3  \r\nv,c,1\r\nu,b,2\r\n"
            "v,a,2",
            NULL, &messy);
    ck_assert_int_eq(messy.n_users, clean.n_users);
    ck_assert_int_eq(messy.n_items, clean.n_items);
    for (int64_t u = 0; u < clean.n_users; u++) {
        int64_t a, b;
        const int32_t *sa = dataset_seq(&clean, u, &a), *sb = dataset_seq(&messy, u, &b);
        ck_assert_int_eq(a, b);
        for (int64_t k = 0; k < a; k++) ck_assert_str_eq(clean.item_ids[sa[k]], messy.item_ids[sb[k]]);
    }
    dataset_free(&clean);
    dataset_free(&messy);
    LOAD_OK("messy.txt", "\xEF\xBB\xBF\r\nu1 a b c \r\n\t\r\nu2  b\tc d\r\n", NULL, &messy);
    expect_seq(&messy, 0, "u1", "a b c");
    expect_seq(&messy, 1, "u2", "b c d");
    dataset_free(&messy);
    /* the mark belongs to the file's start, once: a first id that itself begins with U+FEFF keeps it (issue 22) */
    LOAD_OK("twice.txt", "\xEF\xBB\xBF\xEF\xBB\xBFu1 \xEF\xBB\xBF" "a b c\nu1 a b c\n", NULL, &messy);
    ck_assert_int_eq(messy.n_users, 2);
    ck_assert_str_eq(messy.user_ids[0], "\xEF\xBB\xBFu1");
    ck_assert_str_eq(messy.user_ids[1], "u1");
    ck_assert_int_eq(messy.n_items, 4);
    ck_assert_str_eq(messy.item_ids[1], "\xEF\xBB\xBF" "a");
    dataset_free(&messy);
}
END_TEST

START_TEST(any_line_length) {
    /* a power user: one seq line of 200,000 items (about 1.3 MB) */
    size_t n = 200000, cap = n * 8 + 16, o = 0;
    char *text = malloc(cap);
    o += (size_t)snprintf(text, cap, "power");
    for (size_t i = 0; i < n; i++) o += (size_t)snprintf(text + o, cap - o, " %zu", i % 5000);
    text[o++] = '\n';
    Dataset ds;
    load_ok("long.txt", text, o, NULL, &ds);
    ck_assert_int_eq(ds.n_interactions, (int64_t)n);
    ck_assert_int_eq(ds.n_items, 5000);
    ck_assert_int_eq(ds.duplicates, (int64_t)n - 5000);
    dataset_free(&ds);
    free(text);
}
END_TEST

START_TEST(filters_users_with_few_interactions) {
    Dataset ds;
    LOAD_OK("f.txt", "a x1 x2\nb y1 y2 y3\nc z1\nd y3 y4 y5 y6\n", NULL, &ds);
    ck_assert_int_eq(ds.n_users, 2);
    expect_seq(&ds, 0, "b", "y1 y2 y3");
    expect_seq(&ds, 1, "d", "y3 y4 y5 y6");
    ck_assert_int_eq(ds.skipped_users, 2);
    ck_assert_int_eq(ds.skipped_interactions, 3);
    ck_assert_int_eq(ds.n_items, 6); /* x1, x2, z1 belong to skipped users only: no id */
    ck_assert_str_eq(ds.item_ids[1], "y1");
    ck_assert_int_eq(dataset_item_id(&ds, "x1", 2), 0);
    ck_assert_int_eq(dataset_user_index(&ds, "a", 1), -1);
    char line[512];
    dataset_summary(&ds, line, sizeof line);
    ck_assert_msg(strstr(line, "seq: 2 users, 6 items, 7 interactions") && strstr(line, "skipped 2 users") &&
                      strstr(line, "fewer than 3"),
                  "%s", line);
    dataset_free(&ds);
}
END_TEST

START_TEST(seq_user_on_two_lines_is_an_error) {
    EXPECT_ERROR("twice.txt", "u1 a b c\nu2 a b c\n\nu1 d e f\n", NULL,
                 "twice.txt:4:", "\"u1\" has a line already (line 1)", "one line per user", "--format pairs");
}
END_TEST

/* ---- bad input: one test per class, each message naming file, line and what was expected ---- */

START_TEST(refuses_empty_files) {
    EXPECT_ERROR("empty.txt", "", NULL, "empty.txt is empty", "expected");
    EXPECT_ERROR("blank.txt", "\n  \n\t\r\n", NULL, "blank.txt is empty", "expected");
    EXPECT_ERROR("bom.txt", "\xEF\xBB\xBF", NULL, "bom.txt is empty");
    LoadOptions o = fmt_opt(FORMAT_CSV);
    EXPECT_ERROR("empty.csv", "", &o, "empty.csv is empty");
}
END_TEST

START_TEST(refuses_header_only) {
    EXPECT_ERROR("h.csv", "user,item,time\n", NULL, "h.csv has a header but no data rows", "user,item,time");
    EXPECT_ERROR("h2.csv", "userId,movieId,rating,timestamp\r\n\r\n", NULL, "h2.csv has a header but no data rows");
}
END_TEST

START_TEST(refuses_missing_or_extra_columns) {
    EXPECT_ERROR("m.csv", "user,item,time\nu,a,1\nu,b\n", NULL, "m.csv:3:", "2 fields; expected 3", "missing");
    EXPECT_ERROR("x.csv", "user,item,time\nu,a,1,9\n", NULL, "x.csv:2:", "more than 3 fields; expected 3", "extra",
                 "quote ids");
    EXPECT_ERROR("m.dat", "1::2::3::4\n1::2::3\n", NULL, "m.dat:2:", "3 fields; expected user::item::rating::time");
    EXPECT_ERROR("x.dat", "1::2::3::4::5\n", NULL, "x.dat:1:", "more than 4 fields", "user::item::rating::time");
    EXPECT_ERROR("m.data", "1\t2\t3\t4\n1\t2\t3\n", NULL, "m.data:2:", "3 fields; expected user<TAB>item");
    EXPECT_ERROR("x.data", "1\t2\t3\t4\n1\t2\t3\t4\t5\n", NULL, "x.data:2:", "more than 4 fields");
    LoadOptions o = fmt_opt(FORMAT_PAIRS);
    EXPECT_ERROR("m.pairs", "u a\nu\n", &o, "m.pairs:2:", "only one field", "expected \"user item\"");
    EXPECT_ERROR("noitems.txt", "u1 a b c\nu2\n", NULL, "noitems.txt:2:", "\"u2\" has no items",
                 "\"user item item ...\"");
}
END_TEST

START_TEST(refuses_empty_tokens) {
    EXPECT_ERROR("e.csv", "user,item,time\nu,a,1\nu,,3\n", NULL, "e.csv:3:3:", "item id (column 2) is empty");
    EXPECT_ERROR("e2.csv", "user,item,time\n,a,1\n", NULL, "e2.csv:2:1:", "user id (column 1) is empty");
    EXPECT_ERROR("e3.csv", "user,item,time\nu,a,\n", NULL, "e3.csv:2:5:", "time (column 3) is empty");
    EXPECT_ERROR("e4.csv", "user,item,time\nu,\"\",1\n", NULL, "e4.csv:2:3:", "item id (column 2) is empty");
    EXPECT_ERROR("e.dat", "1::::3::4\n", NULL, "e.dat:1:4:", "item id (field 2) is empty");
    EXPECT_ERROR("e.data", "1\t\t3\t4\n", NULL, "e.data:1:3:", "item id (field 2) is empty");
}
END_TEST

START_TEST(refuses_bad_timestamps) {
    EXPECT_ERROR("t.csv", "user,item,time\nu,a,1\nu,b,yesterday\n", NULL,
                 "t.csv:3:5:", "time (column 3) \"yesterday\" is not a number", "expected an integer or a decimal");
    EXPECT_ERROR("nan.csv", "user,item,time\nu,a,NaN\n", NULL, "nan.csv:2:", "\"NaN\" is not a number", "no NaN");
    EXPECT_ERROR("inf.csv", "user,item,time\nu,a,inf\n", NULL, "inf.csv:2:", "\"inf\" is not a number");
    EXPECT_ERROR("exp.csv", "user,item,time\nu,a,1e9\n", NULL, "exp.csv:2:", "not a number");
    EXPECT_ERROR("big.csv", "user,item,time\nu,a,99999999999999999999\n", NULL, "big.csv:2:", "out of range",
                 "18 digits");
    EXPECT_ERROR("t.dat", "1::2::3::soon\n", NULL, "t.dat:1:10:", "time (field 4) \"soon\" is not a number");
    EXPECT_ERROR("r.data", "1\t2\tgood\t4\n", NULL, "r.data:1:5:", "rating (field 3) \"good\" is not a number");
    EXPECT_ERROR("dot.csv", "user,item,time\nu,a,.\n", NULL, "dot.csv:2:", "not a number");
}
END_TEST

START_TEST(refuses_binary_garbage) {
    EXPECT_ERROR("nul.txt", "u a b c\nu2 a\0b c\n", NULL, "nul.txt:2:5:", "NUL byte", "binary", "expected UTF-8 text");
    EXPECT_ERROR("utf.txt", "u a b c\nu2 \xff\xfe c d\n", NULL, "utf.txt:2:4:", "invalid UTF-8 (byte 0xFF)");
    EXPECT_ERROR("trunc.txt", "u a b \xC3", NULL, "trunc.txt:1:7:", "invalid UTF-8");
    EXPECT_ERROR("over.txt", "u a b \xC0\xAF\n", NULL, "over.txt:1:7:", "invalid UTF-8");   /* overlong '/' */
    EXPECT_ERROR("sur.txt", "u a b \xED\xA0\x80\n", NULL, "sur.txt:1:7:", "invalid UTF-8"); /* a surrogate */
    EXPECT_ERROR("ctl.txt", "u a\x01 b c\n", NULL, "ctl.txt:1:4:", "control character 0x01");
    EXPECT_ERROR("c1.txt", "u a\xC2\x85 b c\n", NULL, "c1.txt:1:4:", "control character U+0085");
    EXPECT_ERROR("esc.csv", "user,item,time\nu,\x1b[31m,1\n", NULL, "esc.csv:2:3:", "control character 0x1B");
    EXPECT_ERROR("cr.txt", "u a b c\rv a b c\r", NULL, "cr.txt:1:8:", "carriage return", "LF or CRLF");
    /* valid UTF-8 ids are fine */
    Dataset ds;
    LOAD_OK("utf8.txt", "\xC3\xA9l\xC3\xA8ve caf\xC3\xA9 th\xC3\xA9 \xF0\x9F\x8D\xB5\n", NULL, &ds);
    expect_seq(&ds, 0, "\xC3\xA9l\xC3\xA8ve", "caf\xC3\xA9 th\xC3\xA9 \xF0\x9F\x8D\xB5");
    dataset_free(&ds);
}
END_TEST

START_TEST(refuses_bad_csv_quoting) {
    EXPECT_ERROR("q1.csv", "user,item,time\nu,\"a,b,1\n", NULL, "q1.csv:2:3:", "not closed on its line",
                 "newlines inside quoted fields");
    EXPECT_ERROR("q2.csv", "user,item,time\nu,a\"b,1\n", NULL, "q2.csv:2:4:", "quote inside an unquoted field");
    EXPECT_ERROR("q3.csv", "user,item,time\nu,\"a\"b,1\n", NULL, "q3.csv:2:6:", "text after the closing quote",
                 "expected a comma");
}
END_TEST

START_TEST(refuses_missing_csv_columns) {
    EXPECT_ERROR("c.csv", "movieId,title,genres\n1,Toy Story,Animation\n", NULL, "c.csv:1:", "no user column",
                 "--user-col", "movieId,title,genres", "[read as csv because line 1 has commas");
    EXPECT_ERROR("c2.csv", "user,userId,item,time\nu,u,a,1\n", NULL, "c2.csv:1:", "two user columns",
                 "\"user\" (column 1) and \"userId\" (column 2)", "--user-col");
    LoadOptions o = dataset_default_options();
    o.time_col = "ts";
    EXPECT_ERROR("c3.csv", "user,item,time\nu,a,1\n", &o, "c3.csv:1:", "no column \"ts\" (--time-col)",
                 "user,item,time");
    o.time_col = "item";
    EXPECT_ERROR("c4.csv", "user,item,time\nu,a,1\n", &o, "c4.csv:1:", "must differ");
    /* a headerless CSV: the first row is taken as the header and has no user column */
    EXPECT_ERROR("c5.csv", "1,2,3.5,100\n1,3,4,101\n", NULL, "c5.csv:1:", "no user column",
                 "if the file has no header");
}
END_TEST

START_TEST(refuses_overlong_ids) {
    size_t n = DATASET_MAX_ID_BYTES + 1;
    char *text = malloc(n + 32);
    memcpy(text, "u a b ", 6);
    memset(text + 6, 'x', n);
    memcpy(text + 6 + n, "\n", 1);
    NnError err = {0};
    Dataset ds;
    ck_assert_int_eq(dataset_load(put("long.txt", text, n + 7), NULL, NULL, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "long.txt:1:7:") && strstr(err.msg, "4097 bytes long") &&
                      strstr(err.msg, "at most 4096"),
                  "%s", err.msg);
    free(text);
}
END_TEST

START_TEST(refuses_data_without_enough_interactions) {
    EXPECT_ERROR("few.txt", "u1 a b\nu2 c\n", NULL, "few.txt:", "none of its 2 users has at least 3 interactions",
                 "expected users with at least 3");
    EXPECT_ERROR("few.csv", "user,item,time\nu,a,1\nu,b,2\n", NULL, "none of its 1 users has at least 3");
}
END_TEST

START_TEST(refuses_unreadable_paths) {
    NnError err = {0};
    Dataset ds;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.txt", fixture_dir);
    ck_assert_int_eq(dataset_load(path, NULL, NULL, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot open") && strstr(err.msg, "missing.txt") && strstr(err.msg, "No such file"),
                  "%s", err.msg);
    ck_assert_int_eq(dataset_load(fixture_dir, NULL, NULL, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot read") && strstr(err.msg, "directory"), "%s", err.msg);
}
END_TEST

START_TEST(item_vocab_fixes_ids_and_drops_unknown_items) {
    Dataset train, eval;
    LOAD_OK("train.txt", "u1 a b c\nu2 c d e\n", NULL, &train);
    NnError err = {0};
    int rc = dataset_load(PUT("eval.txt", "v1 e q d a\nv2 q r a\nv3 d c b\n"), NULL, &train, &eval, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(eval.n_items, 5);
    ck_assert_int_eq(eval.unknown_items, 3);
    ck_assert_int_eq(eval.n_users, 2); /* v2 keeps only "a": skipped */
    ck_assert_int_eq(eval.skipped_users, 1);
    expect_seq(&eval, 0, "v1", "e d a");
    expect_seq(&eval, 1, "v3", "d c b");
    for (int i = 1; i <= 5; i++) ck_assert_str_eq(eval.item_ids[i], train.item_ids[i]);
    ck_assert_int_eq(eval.items[0], 5); /* e keeps its training id */
    char line[512];
    dataset_summary(&eval, line, sizeof line);
    ck_assert_msg(strstr(line, "3 interactions with items unknown to the model dropped"), "%s", line);
    dataset_free(&eval);
    rc = dataset_load(PUT("other.txt", "w x y z\n"), NULL, &train, &eval, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.msg, "other.txt") && strstr(err.msg, "none of its 3 items is known to the model"), "%s",
                  err.msg);
    dataset_free(&train);
}
END_TEST

START_TEST(format_names_round_trip) {
    for (DataFormat f = FORMAT_AUTO; f <= FORMAT_UDATA; f++) {
        DataFormat g;
        ck_assert_int_eq(dataset_format_parse(dataset_format_name(f), &g, NULL), 0);
        ck_assert_int_eq(g, f);
    }
    DataFormat g;
    NnError err;
    ck_assert_int_eq(dataset_format_parse("json", &g, &err), -1);
    ck_assert_msg(strstr(err.msg, "\"json\"") && strstr(err.msg, "seq, pairs, csv, dat, udata"), "%s", err.msg);
    ck_assert_int_eq(dataset_format_parse("synthetic", &g, &err), -1);
    ck_assert_str_eq(dataset_format_name(FORMAT_SYNTHETIC), "synthetic");
}
END_TEST

START_TEST(timekeys_order_exactly) {
    const char *sorted[] = {"-99999999999999999.5",
                            "-3",
                            "-2.5",
                            "-2.25",
                            "-2",
                            "-0.000001",
                            "0",
                            ".5",
                            "0.75",
                            "7.",
                            "9007199254740992",
                            "9007199254740993",
                            "999999999999999999"};
    size_t n = sizeof sorted / sizeof *sorted;
    for (size_t i = 0; i + 1 < n; i++) {
        TimeKey a, b;
        ck_assert_int_eq(timekey_parse(sorted[i], strlen(sorted[i]), &a), TIMEKEY_OK);
        ck_assert_int_eq(timekey_parse(sorted[i + 1], strlen(sorted[i + 1]), &b), TIMEKEY_OK);
        ck_assert_msg(timekey_cmp(a, b) < 0, "%s should sort before %s", sorted[i], sorted[i + 1]);
        ck_assert_int_eq(timekey_cmp(b, a), 1);
        ck_assert_int_eq(timekey_cmp(a, a), 0);
    }
    TimeKey t;
    const char *bad[] = {"", "-", "+", ".", "1.2.3", "1e5", "nan", "inf", "0x10", "1 2", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(timekey_parse(bad[i], strlen(bad[i]), &t) == TIMEKEY_NOT_A_NUMBER, "\"%s\" accepted", bad[i]);
    ck_assert_int_eq(timekey_parse("9223372036854775807", 19, &t), TIMEKEY_OUT_OF_RANGE);
    ck_assert_int_eq(timekey_parse("-0", 2, &t), TIMEKEY_OK);
    ck_assert_int_eq(t.whole, 0);
}
END_TEST

START_TEST(csv_splits_fields) {
    CsvRow row = {0};
    const char *line = " a , \"b,c\" ,\"d\"\"e\", ,\"\"";
    ck_assert_int_eq(csv_split(&row, line, strlen(line), 100, "x", 1, NULL), 0);
    ck_assert_int_eq(row.n, 5);
    ck_assert_str_eq(row.field[0], "a");
    ck_assert_str_eq(row.field[1], "b,c");
    ck_assert_str_eq(row.field[2], "d\"e");
    ck_assert_str_eq(row.field[3], "");
    ck_assert_str_eq(row.field[4], "");
    ck_assert_uint_eq(row.col[1], 6);
    ck_assert_int_eq(csv_split(&row, "", 0, 100, "x", 1, NULL), 0);
    ck_assert_int_eq(row.n, 1);
    ck_assert_int_eq(csv_split(&row, "a,", 2, 100, "x", 1, NULL), 0);
    ck_assert_int_eq(row.n, 2);
    ck_assert_int_eq(csv_split(&row, "a,b,c,d", 7, 2, "x", 1, NULL), CSV_TOO_MANY_FIELDS);
    ck_assert_int_eq(row.n, 3);
    csv_free(&row);
}
END_TEST

static Suite *data_loading_suite(void) {
    Suite *s = suite_create("data_loading");
    TCase *tc = fixture_tcase("data_loading");
    tcase_add_test(tc, seq_loads_in_line_order);
    tcase_add_test(tc, pairs_keep_file_order);
    tcase_add_test(tc, csv_sorts_by_time_stably_with_string_ids);
    tcase_add_test(tc, csv_movielens_columns_and_quotes);
    tcase_add_test(tc, csv_named_columns);
    tcase_add_test(tc, dat_sorts_by_time);
    tcase_add_test(tc, udata_sorts_by_time);
    tcase_add_test(tc, detects_each_format);
    tcase_add_test(tc, forced_format_overrides_detection);
    tcase_add_test(tc, accepts_crlf_bom_blank_lines_trailing_space);
    tcase_add_test(tc, any_line_length);
    tcase_add_test(tc, filters_users_with_few_interactions);
    tcase_add_test(tc, seq_user_on_two_lines_is_an_error);
    tcase_add_test(tc, refuses_empty_files);
    tcase_add_test(tc, refuses_header_only);
    tcase_add_test(tc, refuses_missing_or_extra_columns);
    tcase_add_test(tc, refuses_empty_tokens);
    tcase_add_test(tc, refuses_bad_timestamps);
    tcase_add_test(tc, refuses_binary_garbage);
    tcase_add_test(tc, refuses_bad_csv_quoting);
    tcase_add_test(tc, refuses_missing_csv_columns);
    tcase_add_test(tc, refuses_overlong_ids);
    tcase_add_test(tc, refuses_data_without_enough_interactions);
    tcase_add_test(tc, refuses_unreadable_paths);
    tcase_add_test(tc, item_vocab_fixes_ids_and_drops_unknown_items);
    tcase_add_test(tc, format_names_round_trip);
    tcase_add_test(tc, timekeys_order_exactly);
    tcase_add_test(tc, csv_splits_fields);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(data_loading_suite)
