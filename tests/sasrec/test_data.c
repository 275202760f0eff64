/* The SASRec data pipeline: loaders and detection, bad input and its messages,
 * splits and padding, training negatives, evaluation negatives (read and
 * generated), synthetic data and the id maps. Every test writes its own small
 * files into a fresh temporary folder and removes them. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/sasrec/batch.h"
#include "io/csv.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/data/idmap.h"
#include "models/sasrec/data/sample.h"
#include "models/sasrec/data/synthetic.h"
#include "models/sasrec/data/timekey.h"
#include "tests/support.h"

/* ---- a temporary folder per test, inside one per run ---- */

static char run_dir[64]; /* made before the tests, removed after them all, whatever failed */
static char tmp_dir[96]; /* the current test's */

static void remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char sub[512];
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                remove_tree(sub);
            }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void run_setup(void) {
    strcpy(run_dir, "/tmp/sasrec-data-XXXXXX");
    if (!mkdtemp(run_dir)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static void run_teardown(void) { remove_tree(run_dir); }

static void setup(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test-XXXXXX", run_dir);
    ck_assert_msg(mkdtemp(tmp_dir) != NULL, "mkdtemp failed");
}

static void teardown(void) { remove_tree(tmp_dir); }

/* Writes a file into the folder; returns its path (valid until the 8th next call). */
static const char *put(const char *name, const char *text, size_t len) {
    static char paths[8][512];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 512, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}
#define PUT(name, literal) put(name, literal, sizeof(literal) - 1)

static LoadOptions fmt_opt(DataFormat f) {
    LoadOptions o = dataset_default_options();
    o.format = f;
    return o;
}

/* Loads a literal written to a file; fails the test with the message if loading fails. */
static void load_ok(const char *name, const char *text, size_t len, const LoadOptions *opt, Dataset *ds) {
    NnError err = {{0}};
    int rc = dataset_load(put(name, text, len), opt, NULL, ds, &err);
    ck_assert_msg(rc == 0, "loading %s failed: %s", name, err.msg);
}
#define LOAD_OK(name, literal, opt, ds) load_ok(name, literal, sizeof(literal) - 1, opt, ds)

/* Loading must fail with a message holding each of the substrings (NULL-terminated). */
static void expect_error_v(const char *name, const char *text, size_t len, const LoadOptions *opt,
                           const char *const *subs) {
    NnError err = {{0}};
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
        NnError err = {{0}};
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
    NnError err = {{0}};
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
    NnError err = {{0}};
    Dataset ds;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.txt", tmp_dir);
    ck_assert_int_eq(dataset_load(path, NULL, NULL, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot open") && strstr(err.msg, "missing.txt") && strstr(err.msg, "No such file"),
                  "%s", err.msg);
    ck_assert_int_eq(dataset_load(tmp_dir, NULL, NULL, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot read") && strstr(err.msg, "directory"), "%s", err.msg);
}
END_TEST

START_TEST(item_vocab_fixes_ids_and_drops_unknown_items) {
    Dataset train, eval;
    LOAD_OK("train.txt", "u1 a b c\nu2 c d e\n", NULL, &train);
    NnError err = {{0}};
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

/* ---- splits, padding, training negatives ---- */

/* Users a..d with 3, 4, L+3 = 8 and 15 items, e with others; item "k" gets id k. */
static void split_data(Dataset *ds) {
    LOAD_OK("splits.txt", "a 1 2 3\nb 1 2 3 4\nc 1 2 3 4 5 6 7 8\nd 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\ne 16 17 18\n",
            NULL, ds);
    for (int i = 1; i <= 15; i++) ck_assert_int_eq(atoi(ds->item_ids[i]), i);
}

static void expect_row(const int64_t *row, int L, const int64_t *want) {
    for (int j = 0; j < L; j++)
        ck_assert_msg(row[j] == want[j], "position %d: got %lld, expected %lld", j, (long long)row[j],
                      (long long)want[j]);
}

START_TEST(splits_pad_left_and_keep_the_last_items) {
    Dataset ds;
    split_data(&ds);
    NegSampler ns;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 42, NULL), 0);
    SeqBatch b;
    batch_alloc(&b, 8, 5);
    int64_t users[4] = {0, 1, 2, 3};

    batch_fill(&b, &ds, SPLIT_TRAIN, users, 4, &ns, 0);
    ck_assert_int_eq(b.B, 4);
    expect_row(b.input + 0, 5, (int64_t[]){0, 0, 0, 0, 0}); /* 3 items: empty train input */
    expect_row(b.pos + 0, 5, (int64_t[]){0, 0, 0, 0, 0});
    expect_row(b.neg + 0, 5, (int64_t[]){0, 0, 0, 0, 0});
    ck_assert_int_eq(b.len[0], 0);
    expect_row(b.input + 5, 5, (int64_t[]){0, 0, 0, 0, 1});
    expect_row(b.pos + 5, 5, (int64_t[]){0, 0, 0, 0, 2});
    ck_assert_int_eq(b.len[1], 1);
    expect_row(b.input + 10, 5, (int64_t[]){1, 2, 3, 4, 5}); /* exactly L + 3: fills the row */
    expect_row(b.pos + 10, 5, (int64_t[]){2, 3, 4, 5, 6});
    expect_row(b.input + 15, 5, (int64_t[]){8, 9, 10, 11, 12}); /* longer: the last L */
    expect_row(b.pos + 15, 5, (int64_t[]){9, 10, 11, 12, 13});
    ck_assert_int_eq(b.len[3], 5);
    for (int r = 0; r < 4; r++) {
        ck_assert_int_eq(b.answer[r], 0);
        ck_assert_int_eq(b.user[r], r);
        for (int j = 0; j < 5; j++) ck_assert((b.neg[r * 5 + j] != 0) == (b.pos[r * 5 + j] != 0));
    }

    batch_fill(&b, &ds, SPLIT_VALID, users, 4, NULL, 0);
    expect_row(b.input + 0, 5, (int64_t[]){0, 0, 0, 0, 1});
    ck_assert_int_eq(b.answer[0], 2);
    expect_row(b.input + 5, 5, (int64_t[]){0, 0, 0, 1, 2});
    ck_assert_int_eq(b.answer[1], 3);
    expect_row(b.input + 10, 5, (int64_t[]){2, 3, 4, 5, 6});
    ck_assert_int_eq(b.answer[2], 7);
    expect_row(b.input + 15, 5, (int64_t[]){9, 10, 11, 12, 13});
    ck_assert_int_eq(b.answer[3], 14);
    for (int j = 0; j < 20; j++) ck_assert(b.pos[j] == 0 && b.neg[j] == 0);

    batch_fill(&b, &ds, SPLIT_TEST, users, 4, NULL, 0);
    expect_row(b.input + 0, 5, (int64_t[]){0, 0, 0, 1, 2});
    ck_assert_int_eq(b.answer[0], 3);
    expect_row(b.input + 15, 5, (int64_t[]){10, 11, 12, 13, 14});
    ck_assert_int_eq(b.answer[3], 15);
    ck_assert_int_eq(b.len[0], 2);

    int64_t two[2] = {3, 0}; /* any order, fewer rows than the capacity */
    batch_fill(&b, &ds, SPLIT_SUBMIT, two, 2, NULL, 0);
    ck_assert_int_eq(b.B, 2);
    expect_row(b.input + 0, 5, (int64_t[]){11, 12, 13, 14, 15}); /* the most recent item at L - 1 */
    expect_row(b.input + 5, 5, (int64_t[]){0, 0, 1, 2, 3});
    ck_assert_int_eq(b.len[1], 3);
    ck_assert_int_eq(b.user[0], 3);
    ck_assert_int_eq(b.answer[0], 0);
    batch_free(&b);
    batch_neg_free(&ns);
    dataset_free(&ds);
}
END_TEST

START_TEST(training_negatives_avoid_the_sequence_and_are_reproducible) {
    /* 11 items; users with most of them, so rejection happens often */
    Dataset ds;
    LOAD_OK("n.txt", "a 1 2 3 4 5 6 7 8\nb 9 10 1 2 3 4 5 6 7\nc 1 2 3\nd 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8\ne 11 1 2\n",
            NULL, &ds);
    NegSampler ns, ns2;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 42, NULL), 0);
    ck_assert_int_eq(batch_neg_prepare(&ns2, &ds, 43, NULL), 0);
    SeqBatch b1, b2;
    batch_alloc(&b1, 4, 12);
    batch_alloc(&b2, 4, 12);
    int64_t order1[4] = {0, 1, 2, 3}, order2[4] = {3, 2, 1, 0};
    int differs_epoch = 0, differs_seed = 0;
    for (int epoch = 0; epoch < 20; epoch++) {
        batch_fill(&b1, &ds, SPLIT_TRAIN, order1, 4, &ns, epoch);
        batch_fill(&b2, &ds, SPLIT_TRAIN, order2, 4, &ns, epoch); /* another batch composition */
        for (int r = 0; r < 4; r++) {
            int64_t len;
            const int32_t *s = dataset_seq(&ds, r, &len);
            for (int j = 0; j < 12; j++) {
                int64_t neg = b1.neg[r * 12 + j];
                ck_assert_int_eq(neg, b2.neg[(3 - r) * 12 + j]);
                if (!b1.pos[r * 12 + j]) continue;
                ck_assert(neg >= 1 && neg <= ds.n_items);
                for (int64_t k = 0; k < len; k++)
                    ck_assert_msg(s[k] != neg, "negative %lld is in the sequence", (long long)neg);
            }
        }
        if (epoch > 0) { /* redraw of epoch 0 and of seed 43 */
            int64_t u = 0, len;
            dataset_seq(&ds, u, &len);
            for (int64_t t = 1; t < len - 2; t++) {
                differs_epoch |= batch_neg_draw(&ns, 0, u, t) != batch_neg_draw(&ns, epoch, u, t);
                differs_seed |= batch_neg_draw(&ns, epoch, u, t) != batch_neg_draw(&ns2, epoch, u, t);
                ck_assert_int_eq(batch_neg_draw(&ns, epoch, u, t), batch_neg_draw(&ns, epoch, u, t));
            }
        }
    }
    ck_assert(differs_epoch && differs_seed);
    /* max_len does not change a position's negative */
    SeqBatch b3;
    batch_alloc(&b3, 1, 3);
    int64_t d = 3;
    batch_fill(&b3, &ds, SPLIT_TRAIN, &d, 1, &ns, 5);
    batch_fill(&b1, &ds, SPLIT_TRAIN, order1, 4, &ns, 5);
    for (int j = 0; j < 3; j++) ck_assert_int_eq(b3.neg[j], b1.neg[3 * 12 + 9 + j]);
    ck_assert(batch_neg_in_seq(&ns, 2, 3) && !batch_neg_in_seq(&ns, 2, 4) && !batch_neg_in_seq(&ns, 2, 10));
    batch_free(&b1);
    batch_free(&b2);
    batch_free(&b3);
    batch_neg_free(&ns);
    batch_neg_free(&ns2);
    dataset_free(&ds);
}
END_TEST

START_TEST(training_negatives_refuse_a_user_with_every_item) {
    Dataset ds;
    LOAD_OK("all.txt", "a 1 2 3\nb 3 1 2 1\n", NULL, &ds);
    NegSampler ns;
    NnError err;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, "user \"a\" interacted with every one of the 3 items"), "%s", err.msg);
    ck_assert_ptr_null(ns.uniq);
    dataset_free(&ds);
}
END_TEST

START_TEST(epoch_shuffle_is_a_reproducible_permutation) {
    int64_t n = 1000, a[1000], b[1000], c[1000];
    batch_shuffle(42, 3, n, a);
    batch_shuffle(42, 3, n, b);
    batch_shuffle(42, 4, n, c);
    char seen[1000] = {0};
    int same_as_next = 0, moved = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert(a[i] >= 0 && a[i] < n && !seen[a[i]]);
        seen[a[i]] = 1;
        ck_assert_int_eq(a[i], b[i]);
        same_as_next += a[i] == c[i];
        moved += a[i] != i;
    }
    ck_assert_int_lt(same_as_next, 20);
    ck_assert_int_gt(moved, 900);
    batch_shuffle(42, 0, 0, a); /* nothing to do */
}
END_TEST

/* ---- evaluation negatives ---- */

/* 3 users; items a..z plus "0" and "-5" (28 items), so 4 negatives each. */
static void sample_data(Dataset *ds) {
    LOAD_OK("sd.txt", "u1 a b c\nu2 d e f g\n-5 0 a d\n", NULL, ds);
    ck_assert_int_eq(ds->n_items, 8);
}

static int sample_read_text(const char *name, const char *text, size_t len, const Dataset *ds, int n_neg, SampleSet *s,
                            NnError *err) {
    return sample_read(put(name, text, len), ds, n_neg, s, err);
}

static void expect_sample_error_v(const char *name, const char *text, size_t len, const Dataset *ds,
                                  const char *const *subs) {
    NnError err = {{0}};
    SampleSet s;
    ck_assert_int_eq(sample_read_text(name, text, len, ds, 3, &s, &err), -1);
    for (int i = 0; subs[i]; i++)
        ck_assert_msg(strstr(err.msg, subs[i]), "message for %s lacks \"%s\": %s", name, subs[i], err.msg);
    ck_assert_ptr_null(s.neg);
}
#define EXPECT_SAMPLE_ERROR(name, literal, ds, ...)                                                                    \
    expect_sample_error_v(name, literal, sizeof(literal) - 1, ds, (const char *const[]){__VA_ARGS__, NULL})

START_TEST(sample_file_matches_users_by_token) {
    Dataset ds;
    sample_data(&ds);
    SampleSet s;
    NnError err = {{0}};
    /* lines in another order than the data; CRLF, blank lines, tabs; a repeated negative is counted */
    const char text[] = "-5 e\tf g\r\n\r\nu1 d e e\r\nu2 a b 0\r\n";
    ck_assert_msg(sample_read_text("s.txt", text, sizeof text - 1, &ds, 3, &s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.n_users, 3);
    ck_assert_int_eq(s.n_neg, 3);
    ck_assert_int_eq(s.duplicates, 1);
    const char *want[3][3] = {{"d", "e", "e"}, {"a", "b", "0"}, {"e", "f", "g"}};
    for (int u = 0; u < 3; u++)
        for (int k = 0; k < 3; k++) ck_assert_str_eq(ds.item_ids[s.neg[u * 3 + k]], want[u][k]);
    sample_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(sample_file_refusals) {
    Dataset ds;
    sample_data(&ds);
    EXPECT_SAMPLE_ERROR("x1.txt", "u1 d e f\nu2 a b c\nu9 a b c\n-5 e f g\n", &ds,
                        "x1.txt:3:1:", "user \"u9\" is not in the data");
    EXPECT_SAMPLE_ERROR("x2.txt", "u1 d e f\n-5 e f g\n", &ds, "x2.txt:", "user \"u2\" of the data has no line",
                        "1 of the 3 users");
    EXPECT_SAMPLE_ERROR("x3.txt", "u1 d e f\nu2 a b c\nu1 d e f\n-5 e f g\n", &ds,
                        "x3.txt:3:", "\"u1\" has a line already (line 1)");
    EXPECT_SAMPLE_ERROR("x4.txt", "u1 d e f\nu2 a b zz\n", &ds, "x4.txt:2:8:", "negative \"zz\" is not an item");
    EXPECT_SAMPLE_ERROR("x5.txt", "u1 d e\n", &ds, "x5.txt:1:", "has 2 negatives; expected exactly 3");
    EXPECT_SAMPLE_ERROR("x6.txt", "u1 d e f g\n", &ds, "x6.txt:1:10:", "more than 3 negatives");
    EXPECT_SAMPLE_ERROR("x7.txt", "u1\n", &ds, "x7.txt:1:", "has 0 negatives");
    EXPECT_SAMPLE_ERROR("x8.txt", "u1 d b f\n", &ds, "x8.txt:1:6:", "negative \"b\" is in user \"u1\"'s own sequence",
                        "other data");
    EXPECT_SAMPLE_ERROR("x9.txt", "\n\n", &ds, "x9.txt is empty", "user neg1 ... neg3");
    EXPECT_SAMPLE_ERROR("x10.txt", "u1 d e f\nu2 a\xff b c\n", &ds, "x10.txt:2:5:", "invalid UTF-8");
    EXPECT_SAMPLE_ERROR("x11.txt", "u1 d e f\0", &ds, "x11.txt:1:9:", "NUL byte");
    /* the negatives are mapped through the data's item ids: "0" and "-5" are tokens */
    EXPECT_SAMPLE_ERROR("x12.txt", "-5 -5 e f\n", &ds, "x12.txt:1:4:", "\"-5\" is not an item");
    SampleSet s;
    NnError err;
    char path[512];
    snprintf(path, sizeof path, "%s/nope.txt", tmp_dir);
    ck_assert_int_eq(sample_read(path, &ds, 3, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot open") && strstr(err.msg, "nope.txt"), "%s", err.msg);
    dataset_free(&ds);
}
END_TEST

/* The lists numpy gives for S3-Rec's generate_test.py procedure on this data:
 *   rs = np.random.RandomState(12345); all_item = items in order of first appearance
 *   for s in seqs: got = []; while len(got) < 5: got += [x for x in rs.choice(all_item, 5, replace=False)
 *                                                        if x not in s]; keep got[:5] */
START_TEST(generated_negatives_match_s3rec_generate_test) {
    char text[2048];
    int n = snprintf(text, sizeof text, "a 1 2 3 4 5\nb 6 7 8 1 2 9\nc 10 11 12\nd");
    for (int i = 13; i <= 120; i++) n += snprintf(text + n, sizeof text - (size_t)n, " %d", i);
    snprintf(text + n, sizeof text - (size_t)n, "\n");
    Dataset ds;
    NnError err;
    ck_assert_msg(dataset_load_buffer("s3rec.txt", text, strlen(text), NULL, NULL, &ds, &err) == 0, "%s", err.msg);
    SampleSet s;
    ck_assert_msg(sample_generate(&ds, 5, 12345, &s, &err) == 0, "%s", err.msg);
    const char *expected[3][5] = {{"20", "34", "85", "25", "37"}, {"32", "104", "36", "49", "64"},
                                  {"17", "114", "116", "88", "108"}};
    for (int u = 0; u < 3; u++)
        for (int k = 0; k < 5; k++)
            ck_assert_str_eq(ds.item_ids[s.neg[u * 5 + k]], expected[u][k]);
    sample_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(generated_negatives_are_unseen_and_reproducible) {
    SyntheticOptions o = synthetic_default_options();
    o.n_users = 300;
    o.n_items = 400;
    o.max_len = 250; /* some users leave few items: the enumerating path */
    Dataset ds;
    NnError err;
    ck_assert_msg(synthetic_generate(&o, &ds, &err) == 0, "%s", err.msg);
    SampleSet a, b, c;
    ck_assert_msg(sample_generate(&ds, 99, 12345, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(sample_generate(&ds, 99, 12345, &b, NULL), 0);
    ck_assert_int_eq(sample_generate(&ds, 99, 1, &c, NULL), 0);
    char *mark = calloc((size_t)ds.n_items + 1, 1);
    int64_t same = 0;
    for (int64_t u = 0; u < ds.n_users; u++) {
        memset(mark, 0, (size_t)ds.n_items + 1);
        int64_t len;
        const int32_t *s = dataset_seq(&ds, u, &len);
        for (int64_t k = 0; k < len; k++) mark[s[k]] = 1;
        for (int k = 0; k < 99; k++) {
            int32_t x = a.neg[u * 99 + k];
            ck_assert(x >= 1 && x <= ds.n_items);
            ck_assert_msg(mark[x] != 1, "user %lld: negative %d is in the sequence", (long long)u, x);
            ck_assert_int_eq(x, b.neg[u * 99 + k]);
            same += x == c.neg[u * 99 + k];
        }
    }
    ck_assert_int_lt(same, ds.n_users * 99 / 10);
    free(mark);
    sample_free(&a), sample_free(&b), sample_free(&c);
    dataset_free(&ds);
}
END_TEST

START_TEST(generated_negatives_need_enough_unseen_items) {
    Dataset ds;
    LOAD_OK("g.txt", "a 1 2 3 4 5\nb 1 2 3\nc 6 7 8\n", NULL, &ds);
    SampleSet s;
    NnError err;
    ck_assert_int_eq(sample_generate(&ds, 3, 7, &s, &err), 0); /* a leaves 3 items, exactly enough */
    for (int k = 0; k < 3; k++) ck_assert_int_ge(s.neg[k], 6);
    sample_free(&s);
    ck_assert_int_eq(sample_generate(&ds, 4, 7, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "user \"a\" interacted with 5 of the 8 items, which leaves 3 to draw 4 negatives"),
                  "%s", err.msg);
    ck_assert_ptr_null(s.neg);
    dataset_free(&ds);
}
END_TEST

START_TEST(sample_write_round_trips) {
    Dataset ds;
    sample_data(&ds);
    SampleSet a, b;
    NnError err;
    ck_assert_int_eq(sample_generate(&ds, 4, 3, &a, NULL), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/written_sample.txt", tmp_dir);
    ck_assert_msg(sample_write(path, &ds, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(sample_read(path, &ds, 4, &b, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(a.neg, b.neg, (size_t)3 * 4 * sizeof *a.neg);
    sample_free(&b);
    /* an id with a space cannot be written in this layout */
    Dataset sp;
    LOAD_OK("sp.csv", "user,item,time\nu v,a,1\nu v,c,2\nu v,d,3\nw,e,1\nw,f,2\nw,g,3\n", NULL, &sp);
    ck_assert_int_eq(sample_generate(&sp, 3, 3, &b, NULL), 0);
    ck_assert_int_eq(sample_write(path, &sp, &b, &err), -1);
    ck_assert_msg(strstr(err.msg, "user id \"u v\" holds whitespace"), "%s", err.msg);
    sample_free(&b);
    /* the failed write left the earlier file as it was */
    ck_assert_msg(sample_read(path, &ds, 4, &b, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(a.neg, b.neg, (size_t)3 * 4 * sizeof *a.neg);
    sample_free(&a), sample_free(&b);
    dataset_free(&sp);
    dataset_free(&ds);
}
END_TEST

/* ---- synthetic data ---- */

START_TEST(synthetic_data_meets_size_and_skew) {
    SyntheticOptions o = synthetic_default_options();
    ck_assert_int_ge(o.n_users, 1000);
    ck_assert_int_ge(o.n_items, 500);
    Dataset ds, again, other;
    NnError err;
    ck_assert_msg(synthetic_generate(&o, &ds, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ds.n_users, o.n_users);
    ck_assert_int_ge(ds.n_items, 500);
    ck_assert_int_le(ds.n_items, o.n_items);
    ck_assert_int_eq(ds.format, FORMAT_SYNTHETIC);
    ck_assert_int_eq(ds.duplicates, 0);
    int64_t *count = calloc((size_t)ds.n_items + 1, sizeof *count), hist[41] = {0};
    for (int64_t u = 0; u < ds.n_users; u++) {
        int64_t len;
        const int32_t *s = dataset_seq(&ds, u, &len);
        ck_assert(len >= o.min_len && len <= o.max_len);
        hist[len]++;
        for (int64_t k = 0; k < len; k++) count[s[k]]++;
    }
    /* skewed lengths: more short users than long ones */
    ck_assert_int_gt(hist[5] + hist[6] + hist[7] + hist[8] + hist[9],
                     2 * (hist[36] + hist[37] + hist[38] + hist[39] + hist[40]));
    /* skewed popularity: the top 10% of items hold over a quarter of the interactions */
    int64_t top = 0;
    for (int64_t t = 0; t < ds.n_items / 10; t++) {
        int64_t best = 0;
        for (int64_t i = 1; i <= ds.n_items; i++)
            if (count[i] > count[best]) best = i;
        top += count[best];
        count[best] = -1;
    }
    ck_assert_msg(top * 4 > ds.n_interactions, "top 10%% of items: %lld of %lld", (long long)top,
                  (long long)ds.n_interactions);
    free(count);
    /* the same seed gives the same data, another seed other data */
    ck_assert_int_eq(synthetic_generate(&o, &again, NULL), 0);
    ck_assert_int_eq(again.n_interactions, ds.n_interactions);
    ck_assert_mem_eq(again.items, ds.items, (size_t)ds.n_interactions * sizeof *ds.items);
    o.seed = 7;
    ck_assert_int_eq(synthetic_generate(&o, &other, NULL), 0);
    ck_assert(other.n_interactions != ds.n_interactions ||
              memcmp(other.items, ds.items, (size_t)ds.n_interactions * sizeof *ds.items) != 0);
    ck_assert_str_eq(ds.user_ids[16], "u17");
    ck_assert_int_eq(dataset_user_index(&ds, "u17", 3), 16);
    ck_assert(dataset_item_id(&ds, ds.item_ids[42], strlen(ds.item_ids[42])) == 42);
    dataset_free(&again);
    dataset_free(&other);
    dataset_free(&ds);
    o = synthetic_default_options();
    o.n_items = 50;
    ck_assert_int_eq(synthetic_generate(&o, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "50 items; expected at least max_len + 100 = 140"), "%s", err.msg);
    o = synthetic_default_options();
    o.min_len = 2;
    ck_assert_int_eq(synthetic_generate(&o, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "3 <= min_len <= max_len"), "%s", err.msg);
}
END_TEST

/* Sampled HR@10 on the test split: a bigram count model (a stand-in for a sequential model) must beat
 * most-popular by a wide margin. */
START_TEST(synthetic_data_is_learnable) {
    SyntheticOptions o = synthetic_default_options();
    Dataset ds;
    ck_assert_int_eq(synthetic_generate(&o, &ds, NULL), 0);
    int64_t N = ds.n_items;
    double *pop = calloc((size_t)N + 1, sizeof *pop);
    float *next = calloc((size_t)(N + 1) * (size_t)(N + 1), sizeof *next);
    for (int64_t u = 0; u < ds.n_users; u++) { /* counted on the test inputs s[:-1] */
        int64_t len;
        const int32_t *s = dataset_seq(&ds, u, &len);
        for (int64_t k = 0; k + 1 < len; k++) {
            pop[s[k]]++;
            if (k > 0) next[(size_t)s[k - 1] * (size_t)(N + 1) + (size_t)s[k]] += 1;
        }
    }
    SampleSet neg;
    ck_assert_int_eq(sample_generate(&ds, 99, 12345, &neg, NULL), 0);
    double hit_pop = 0, hit_seq = 0;
    for (int64_t u = 0; u < ds.n_users; u++) {
        int64_t len;
        const int32_t *s = dataset_seq(&ds, u, &len);
        int32_t answer = s[len - 1], last = s[len - 2];
        const float *row = next + (size_t)last * (size_t)(N + 1);
        double sa = row[answer] + 1e-3 * pop[answer];
        int rank_pop = 0, rank_seq = 0;
        for (int k = 0; k < 99; k++) {
            int32_t j = neg.neg[u * 99 + k];
            rank_pop += pop[j] > pop[answer];
            rank_seq += row[j] + 1e-3 * pop[j] > sa;
        }
        hit_pop += rank_pop < 10;
        hit_seq += rank_seq < 10;
    }
    hit_pop /= (double)ds.n_users;
    hit_seq /= (double)ds.n_users;
    ck_assert_msg(hit_seq >= 2.5 * hit_pop && hit_seq > 0.8, "HR@10: bigram %.3f, most popular %.3f", hit_seq, hit_pop);
    free(pop);
    free(next);
    sample_free(&neg);
    dataset_free(&ds);
}
END_TEST

/* ---- id maps ---- */

START_TEST(idmap_round_trip) {
    Dataset ds, vocab, again;
    LOAD_OK(
        "ids.csv",
        "user,item,time\n\"a, b\",x y,1\n\"a, b\",-5,2\n\"a, b\",0,3\nz\xC3\xA9,0,1\nz\xC3\xA9,q,2\nz\xC3\xA9,-5,3\n",
        NULL, &ds);
    NnError err;
    ck_assert_msg(idmap_write(tmp_dir, &ds, &err) == 0, "%s", err.msg);
    ck_assert_msg(idmap_read_items(tmp_dir, &vocab, &err) == 0, "%s", err.msg);
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
    snprintf(path, sizeof path, "%s/users.txt", tmp_dir);
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
    ck_assert_int_eq(idmap_read_items(tmp_dir, &vocab, &err), -1); /* no items.txt */
    ck_assert_msg(strstr(err.msg, "cannot open") && strstr(err.msg, "items.txt"), "%s", err.msg);
    PUT("items.txt", "a\r\nb\n\nc\n");
    ck_assert_int_eq(idmap_read_items(tmp_dir, &vocab, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt:3: an empty line") && strstr(err.msg, "line k holding the id of item k"),
                  "%s", err.msg);
    PUT("items.txt", "a\nb\na\n");
    ck_assert_int_eq(idmap_read_items(tmp_dir, &vocab, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt: item \"a\" appears twice (ids 1 and 3)"), "%s", err.msg);
    PUT("items.txt", "");
    ck_assert_int_eq(idmap_read_items(tmp_dir, &vocab, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt is empty"), "%s", err.msg);
    PUT("items.txt", "a\nb\0\n");
    ck_assert_int_eq(idmap_read_items(tmp_dir, &vocab, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt:2:2: a NUL byte"), "%s", err.msg);
    PUT("items.txt", "\xEF\xBB\xBF a \nb"); /* BOM skipped, spaces kept, last line without LF */
    ck_assert_msg(idmap_read_items(tmp_dir, &vocab, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(vocab.n_items, 2);
    ck_assert_str_eq(vocab.item_ids[1], " a ");
    ck_assert_str_eq(vocab.item_ids[2], "b");
    dataset_free(&vocab);
    /* an id with a line break cannot be written */
    Dataset ds = {0};
    char *items[3] = {NULL, "ok", "two\nlines"}, *users[1] = {"u"};
    ds.n_items = 2;
    ds.n_users = 1;
    ds.item_ids = items;
    ds.user_ids = users;
    ck_assert_int_eq(idmap_write(tmp_dir, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "item \"two\\x0Alines\" holds a line break"), "%s", err.msg);
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no/such/dir", tmp_dir);
    items[2] = "fine";
    ck_assert_int_eq(idmap_write(missing, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "items.txt"), "%s", err.msg);
}
END_TEST

static Suite *sasrec_data_suite(void) {
    Suite *s = suite_create("sasrec_data");
    TCase *tc = tcase_create("data");
    tcase_add_unchecked_fixture(tc, run_setup, run_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
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
    tcase_add_test(tc, splits_pad_left_and_keep_the_last_items);
    tcase_add_test(tc, training_negatives_avoid_the_sequence_and_are_reproducible);
    tcase_add_test(tc, training_negatives_refuse_a_user_with_every_item);
    tcase_add_test(tc, epoch_shuffle_is_a_reproducible_permutation);
    tcase_add_test(tc, sample_file_matches_users_by_token);
    tcase_add_test(tc, sample_file_refusals);
    tcase_add_test(tc, generated_negatives_are_unseen_and_reproducible);
    tcase_add_test(tc, generated_negatives_match_s3rec_generate_test);
    tcase_add_test(tc, generated_negatives_need_enough_unseen_items);
    tcase_add_test(tc, sample_write_round_trips);
    tcase_add_test(tc, synthetic_data_meets_size_and_skew);
    tcase_add_test(tc, synthetic_data_is_learnable);
    tcase_add_test(tc, idmap_round_trip);
    tcase_add_test(tc, idmap_refusals);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(sasrec_data_suite)
