/* sasrec serve as a client uses it, through the program ($NN_SASREC, default
 * ./sasrec; make valgrind puts valgrind in front): every bad request line gets
 * an error answer and the next one is still answered; serve gives predict's
 * recommendations for every user of a data set; a folder without popular.txt
 * still serves, a tampered one is refused; SIGTERM ends it after the batch in
 * hand with exit 143. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/sasrec/fixture.h"

static char out[1 << 20];   /* stdout of the last run */
static char errout[1 << 14]; /* stderr of the last run */

static const char *program(void) { return getenv("NN_SASREC") ? getenv("NN_SASREC") : "./sasrec"; }

/* Runs "$NN_SASREC <args>" with stdin from fixture_dir/<input> (or /dev/null); returns its exit code. */
static int sasrec(const char *args, const char *input) {
    char cmd[4096], in[256];
    snprintf(in, sizeof in, "%s/%s", fixture_dir, input ? input : "/dev/null");
    if (!input) snprintf(in, sizeof in, "/dev/null");
    snprintf(cmd, sizeof cmd, "%s %s <%s >%s/.out 2>%s/.err", program(), args, in, fixture_dir, fixture_dir);
    int status = system(cmd);
    char path[256];
    snprintf(path, sizeof path, "%s/.out", fixture_dir);
    slurp(path, out, sizeof out);
    snprintf(path, sizeof path, "%s/.err", fixture_dir);
    slurp(path, errout, sizeof errout);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* 60 users of 8 items each over 150 items (seq format), and a small model trained on them in fixture_dir/run. */
static void train_tiny(void) {
    char args[512];
    fixture_tiny_seq();
    snprintf(args, sizeof args, "train --data %s/tiny.txt --out %s/run --epochs 2 --hidden 16 --max-len 6 --batch 16",
             fixture_dir, fixture_dir);
    ck_assert_msg(sasrec(args, NULL) == 0, "train failed: %s", errout);
}

/* Line i (from 0) of out, copied into buf; NULL when out has fewer lines. */
static const char *out_line(int i, char *buf, size_t size) {
    const char *p = out;
    for (; i > 0 && p; i--) p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    if (!p || !*p) return NULL;
    size_t n = strcspn(p, "\n");
    snprintf(buf, size, "%.*s", (int)n, p);
    return buf;
}

START_TEST(every_bad_line_gets_an_error_and_the_next_is_answered) {
    train_tiny();
    static char big[4000];
    memset(big, 'x', sizeof big - 1); /* a line past --max-line 1024 */
    /* each bad line, and what its error says; NUL bytes and bad UTF-8 are written as bytes */
    const struct {
        const char *line;
        size_t len;
        const char *says;
    } bad[] = {
        {"not json", 0, "not a JSON object"},
        {"{\"items\": [\"item-0\"", 0, "not a JSON object"},
        {"{\"items\": [\"item-0\"]} trailing", 0, "not a JSON object"},
        {"[\"item-0\"]", 0, "not an array"},
        {"42", 0, "not a single value"},
        {"", 0, "an empty line"},
        {"   ", 0, "not a JSON object"},
        {"{}", 0, "no \\\"items\\\""},
        {"{\"id\": \"x\"}", 0, "no \\\"items\\\""},
        {"{\"items\": \"item-0\"}", 0, "must be an array"},
        {"{\"items\": [true]}", 0, "raw item id"},
        {"{\"items\": [[\"item-0\"]]}", 0, "raw item id"},
        {"{\"items\": [], \"k\": 1000001}", 0, "\\\"k\\\" must be a whole number from 1 to 1000"},
        {"{\"items\": [], \"k\": 99999999999999999999999}", 0, "\\\"k\\\" must be"},
        {"{\"items\": [], \"k\": -3}", 0, "\\\"k\\\" must be"},
        {"{\"items\": [], \"k\": 0}", 0, "\\\"k\\\" must be"},
        {"{\"items\": [], \"k\": 2.5}", 0, "\\\"k\\\" must be"},
        {"{\"items\": [], \"k\": \"10\"}", 0, "\\\"k\\\" must be"},
        {"{\"items\": [], \"exclude\": \"item-1\"}", 0, "\\\"exclude\\\" must be an array"},
        {"{\"items\": [], \"exclude_seen\": 1}", 0, "true or false"},
        {"{\"items\": [], \"id\": 7}", 0, "\\\"id\\\" must be a string"},
        {"{\"items\": [], \"K\": 3}", 0, "unknown member"},
        {"{\"items\": [], \"items\": []}", 0, "not a JSON object"}, /* a repeated key */
        {"{\"items\": [\"a\xff\"]}", 0, "UTF-8"},
        {"{\"items\": [\"\xc0\xaf\"]}", 0, "UTF-8"},
        {"{\"items\": [\"a\0b\"]}", 15, "control character"},
        {"\0", 1, "not a JSON object"},
        {"{\"items\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, "nesting"},
        {"{\"items\": [\"\\ud800\"]}", 0, "not a JSON object"}, /* a lone surrogate */
        {big, 0, "longer than 1024 bytes"},
    };
    int n_bad = (int)(sizeof bad / sizeof bad[0]);
    char path[256];
    snprintf(path, sizeof path, "%s/req.jsonl", fixture_dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < n_bad; i++) {
        fwrite(bad[i].line, 1, bad[i].len ? bad[i].len : strlen(bad[i].line), f);
        fprintf(f, "\n{\"id\": \"ok-%d\", \"items\": [\"item-%d\", \"nope\"], \"k\": 3}\n", i, 2 * i); /* user i's first */
    }
    fclose(f);
    char args[512], line[8192], want[64];
    snprintf(args, sizeof args, "serve --model %s/run --max-line 1024 --threads 1", fixture_dir);
    ck_assert_msg(sasrec(args, "req.jsonl") == 0, "serve failed: %s", errout);
    for (int i = 0; i < n_bad; i++) {
        ck_assert_msg(out_line(2 * i, line, sizeof line), "no answer to bad line %d", i);
        ck_assert_msg(strncmp(line, "{\"id\": null, \"error\": \"", 23) == 0 || strstr(line, "\"error\": \""),
                      "bad line %d answered without an error: %s", i, line);
        ck_assert_msg(strstr(line, bad[i].says), "bad line %d: the error lacks '%s': %s", i, bad[i].says, line);
        ck_assert_msg(out_line(2 * i + 1, line, sizeof line), "no answer after bad line %d", i);
        snprintf(want, sizeof want, "{\"id\": \"ok-%d\", \"items\": [\"", i);
        ck_assert_msg(strncmp(line, want, strlen(want)) == 0 && strstr(line, "\"scores\": [") &&
                          strstr(line, "\"unknown\": 1}") && !strstr(line, "fallback"),
                      "the request after bad line %d: %s", i, line);
    }
    ck_assert(!out_line(2 * n_bad, line, sizeof line));
    ck_assert_msg(strstr(errout, "requests answered"), "%s", errout);
}
END_TEST

/* The rows of a predict CSV for user u, as "a b c" (item ids joined by spaces). */
static void predict_rows(const char *csv, int u, char *buf, size_t size) {
    char key[32];
    int n = snprintf(key, sizeof key, "\nuser%d,", u);
    buf[0] = '\0';
    size_t used = 0;
    for (const char *p = strstr(csv, key); p; p = strstr(p + 1, key)) {
        size_t len = strcspn(p + n, "\n");
        used += (size_t)snprintf(buf + used, size - used, "%s%.*s", used ? " " : "", (int)len, p + n);
    }
}

START_TEST(serve_gives_predicts_items_for_every_user) {
    train_tiny();
    char args[512], path[256];
    snprintf(args, sizeof args, "predict --data %s/tiny.txt --model %s/run --k 5 --out %s/pred.csv", fixture_dir,
             fixture_dir, fixture_dir);
    ck_assert_msg(sasrec(args, NULL) == 0, "predict failed: %s", errout);
    static char csv[1 << 16];
    snprintf(path, sizeof path, "%s/pred.csv", fixture_dir);
    slurp(path, csv, sizeof csv);
    snprintf(path, sizeof path, "%s/req.jsonl", fixture_dir);
    FILE *f = fopen(path, "wb");
    for (int u = 0; u < 60; u++) {
        fprintf(f, "{\"id\": \"user%d\", \"k\": 5, \"items\": [", u);
        for (int k = 0; k < 8; k++) fprintf(f, "%s\"item-%d\"", k ? ", " : "", (u * 2 + 3 * k) % 150);
        fprintf(f, "]}\n");
    }
    fclose(f);
    for (int threads = 1; threads <= 2; threads++) {
        snprintf(args, sizeof args, "serve --model %s/run --threads %d --batch 7", fixture_dir, threads);
        ck_assert_msg(sasrec(args, "req.jsonl") == 0, "serve failed: %s", errout);
        for (int u = 0; u < 60; u++) {
            char line[4096], rows[512], items[512] = "";
            ck_assert(out_line(u, line, sizeof line));
            const char *p = strstr(line, "\"items\": [");
            ck_assert_msg(p, "%s", line);
            size_t used = 0;
            for (p += 10; *p == '"' || *p == ','; p++) {
                if (*p == ',') continue;
                const char *q = strchr(p + 1, '"');
                used += (size_t)snprintf(items + used, sizeof items - used, "%s%.*s", used ? " " : "",
                                         (int)(q - p - 1), p + 1);
                p = q + (q[1] == ',' ? 1 : 0);
                while (p[1] == ' ') p++;
            }
            predict_rows(csv, u, rows, sizeof rows);
            ck_assert_msg(strcmp(items, rows) == 0, "user%d: serve %s, predict %s", u, items, rows);
        }
    }
}
END_TEST

START_TEST(a_folder_without_popular_txt_serves_and_a_tampered_one_is_refused) {
    train_tiny();
    char args[512], cmd[1024];
    PUT("req.jsonl", "{\"id\": \"none\", \"items\": [\"nope\"]}\n{\"id\": \"some\", \"items\": [\"item-3\"]}\n");
    snprintf(args, sizeof args, "serve --model %s/run", fixture_dir);
    ck_assert_msg(sasrec(args, "req.jsonl") == 0, "%s", errout);
    ck_assert_msg(strstr(out, "\"fallback\": \"popular\""), "%s", out);
    /* a count changed: the checksum in config.json refuses the folder before serving */
    snprintf(cmd, sizeof cmd, "sed -i '1s/.*/999/' %s/run/popular.txt", fixture_dir);
    ck_assert(system(cmd) == 0);
    ck_assert_int_eq(sasrec(args, "req.jsonl"), 1);
    ck_assert_msg(strstr(errout, "popular.txt does not match the SHA-256"), "%s", errout);
    ck_assert(out[0] == '\0');
    /* a folder of an earlier sasrec: no popular.txt, no popular_sha256 */
    snprintf(cmd, sizeof cmd, "rm %s/run/popular.txt && sed -i '/popular_sha256/d' %s/run/config.json", fixture_dir,
             fixture_dir);
    ck_assert(system(cmd) == 0);
    ck_assert_msg(sasrec(args, "req.jsonl") == 0, "%s", errout);
    ck_assert_msg(strstr(errout, "has no popular.txt"), "%s", errout);
    ck_assert_msg(strstr(out, "{\"id\": \"none\", \"error\": \"no item of the request is known") &&
                      strstr(out, "{\"id\": \"some\", \"items\": ["),
                  "%s", out);
    /* predict says so too, and writes no rows for such a user */
    PUT("new.txt", "ghost nope\nuser1 item-2\n");
    snprintf(args, sizeof args, "predict --data %s/new.txt --model %s/run --k 3 --out %s/p.csv", fixture_dir,
             fixture_dir, fixture_dir);
    ck_assert_msg(sasrec(args, NULL) == 0, "%s", errout);
    ck_assert_msg(strstr(out, "\"unknown_users\": 1") && strstr(out, "\"no_fallback_users\": 1") &&
                      strstr(out, "\"rows\": 3"),
                  "%s", out);
}
END_TEST

START_TEST(predict_takes_unseen_users_and_unknown_items) {
    train_tiny();
    PUT("new.txt", "newbie item-0 item-3 zzz\nghost qqq\nuser1 item-2 item-5\n");
    char args[512], csv[1024], path[256];
    snprintf(args, sizeof args, "predict --data %s/new.txt --model %s/run --k 3 --out %s/p.csv", fixture_dir,
             fixture_dir, fixture_dir);
    ck_assert_msg(sasrec(args, NULL) == 0, "%s", errout);
    ck_assert_msg(strstr(out, "\"users\": 3, \"rows\": 9") && strstr(out, "\"unknown_users\": 2") &&
                      strstr(out, "\"unknown_items\": 2") && strstr(out, "\"popular_fallback_users\": 1"),
                  "%s", out);
    snprintf(path, sizeof path, "%s/p.csv", fixture_dir);
    slurp(path, csv, sizeof csv);
    ck_assert_msg(strstr(csv, "\nghost,") && strstr(csv, "\nnewbie,"), "%s", csv);
}
END_TEST

START_TEST(sigterm_ends_serve_after_the_batch_in_hand_with_143) {
    train_tiny();
    int in[2];
    ck_assert(pipe(in) == 0);
    char cmd[1024], path[256];
    snprintf(path, sizeof path, "%s/.serve.out", fixture_dir);
    snprintf(cmd, sizeof cmd, "exec %s serve --model %s/run >%s 2>%s/.err", program(), fixture_dir, path,
             fixture_dir);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        close(in[0]);
        close(in[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    const char *req = "{\"id\": \"one\", \"items\": [\"item-3\"]}\n";
    ck_assert(write(in[1], req, strlen(req)) == (ssize_t)strlen(req));
    for (int tries = 0; tries < 1200; tries++) { /* up to 2 minutes (valgrind) for the first answer */
        slurp(path, out, sizeof out);
        if (strchr(out, '\n')) break;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    ck_assert_msg(strstr(out, "{\"id\": \"one\", \"items\": ["), "no answer before the signal: %s", out);
    kill(pid, SIGTERM);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    close(in[1]);
    snprintf(path, sizeof path, "%s/.err", fixture_dir);
    slurp(path, errout, sizeof errout);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 143, "status %d; stderr: %s", status, errout);
    ck_assert_msg(strstr(errout, "SIGTERM: 1 requests answered"), "%s", errout);
    ck_assert_msg(strstr(errout, "SIGTERM: answering the requests in hand, then stopping"), "%s", errout);
}
END_TEST

START_TEST(bad_serve_flags_exit_2) {
    ck_assert_int_eq(sasrec("serve", NULL), 2);
    ck_assert_msg(strstr(errout, "--model DIR is required"), "%s", errout);
    ck_assert_int_eq(sasrec("serve --model /nonexistent", NULL), 2);
    train_tiny();
    char args[512];
    snprintf(args, sizeof args, "serve --model %s/run --k 2000", fixture_dir);
    ck_assert_int_eq(sasrec(args, NULL), 2);
    ck_assert_msg(strstr(errout, "--k 2000 is larger than --max-k 1000"), "%s", errout);
    snprintf(args, sizeof args, "serve --model %s/run --wait-us -1", fixture_dir);
    ck_assert_int_eq(sasrec(args, NULL), 2);
    /* no request at all: exit 0, nothing written */
    snprintf(args, sizeof args, "serve --model %s/run", fixture_dir);
    ck_assert_int_eq(sasrec(args, NULL), 0);
    ck_assert(out[0] == '\0');
}
END_TEST

/* Writes n requests of user-like sequences to fixture_dir/<name>. */
static void many_requests(const char *name, int n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < n; i++) fprintf(f, "{\"id\": \"r%d\", \"items\": [\"item-%d\", \"item-%d\"]}\n", i, i % 150, (i * 7) % 150);
    fclose(f);
}

/* Issue 22 item 8: flags whose memory plan does not fit are refused at start with the estimate and the flag
 * to lower; the largest --batch and --max-k never abort (k is bounded by the model's items). */
START_TEST(flags_whose_plan_does_not_fit_are_refused_with_the_flag_to_lower) {
    train_tiny();
    char args[512];
    snprintf(args, sizeof args, "serve --model %s/run --batch 65536 --max-k 1000000", fixture_dir);
    int code = sasrec(args, NULL);
    ck_assert_msg(code == 0 || (code == 2 && strstr(errout, "lower --batch")), "exit %d: %s", code, errout);
    setenv("NN_MEMORY_LIMIT_MIB", "64", 1);
    code = sasrec(args, NULL);
    ck_assert_msg(code == 2 && strstr(errout, "MiB available") && strstr(errout, "lower --batch"), "exit %d: %s",
                  code, errout);
    snprintf(args, sizeof args, "serve --model %s/run --max-line 100000000", fixture_dir);
    code = sasrec(args, NULL);
    ck_assert_msg(code == 2 && strstr(errout, "lower --max-line"), "exit %d: %s", code, errout);
    unsetenv("NN_MEMORY_LIMIT_MIB");
    ck_assert(out[0] == '\0');
    /* a k above the item count answers every item, once */
    PUT("req.jsonl", "{\"id\": \"all\", \"items\": [\"item-3\"], \"k\": 1000000, \"exclude_seen\": false}\n");
    snprintf(args, sizeof args, "serve --model %s/run --batch 65536 --max-k 1000000", fixture_dir);
    code = sasrec(args, "req.jsonl");
    if (code == 2) return; /* a machine without the memory for it: refused, as checked above */
    ck_assert_msg(code == 0, "exit %d: %s", code, errout);
    ck_assert_msg(strstr(out, "{\"id\": \"all\", \"items\": ["), "%.300s", out);
    int items = 1;
    for (const char *p = strstr(out, "\"items\""); *p != ']'; p++) items += *p == ',';
    ck_assert_msg(items == 138, "%d items of 138: %.300s", items, out);
}
END_TEST

/* Issue 22 item 8: the requests of one pass are bounded in bytes, whatever --batch says: a burst of large
 * requests is answered in full, in order. */
START_TEST(a_burst_of_large_requests_is_answered_in_order) {
    train_tiny();
    char path[256];
    snprintf(path, sizeof path, "%s/big.jsonl", fixture_dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 40; i++) {
        fprintf(f, "{\"id\": \"b%d\", \"items\": [", i);
        for (int j = 0; j < 400; j++) fprintf(f, "%s\"item-%d\"", j ? "," : "", (i + j) % 150);
        fprintf(f, "], \"k\": 2}\n");
    }
    fclose(f);
    char args[512], line[8192], want[32];
    snprintf(args, sizeof args, "serve --model %s/run --max-line 8000 --batch 256", fixture_dir);
    ck_assert_msg(sasrec(args, "big.jsonl") == 0, "%s", errout);
    for (int i = 0; i < 40; i++) {
        snprintf(want, sizeof want, "{\"id\": \"b%d\", \"items\": [", i);
        ck_assert_msg(out_line(i, line, sizeof line) && strncmp(line, want, strlen(want)) == 0, "%d: %s", i, line);
    }
}
END_TEST

/* Issue 22 item 9: a full disk stops serve at the first failed write with "No space left" and exit 4. */
START_TEST(a_full_disk_stops_serve_at_the_first_failed_write_with_4) {
    train_tiny();
    many_requests("many.jsonl", 5000);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s serve --model %s/run --batch 64 <%s/many.jsonl >/dev/full 2>%s/.err", program(),
             fixture_dir, fixture_dir, fixture_dir);
    int status = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/.err", fixture_dir);
    slurp(cmd, errout, sizeof errout);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 4, "status %d: %s", status, errout);
    ck_assert_msg(strstr(errout, "cannot write the answers (stdout: No space left on device)") &&
                      strstr(errout, "stopped at a failed write: 0 requests answered"),
                  "%s", errout);
}
END_TEST

/* Issue 22 item 9: with SIGPIPE ignored (systemd's default), a reader that has gone stops serve at once. */
START_TEST(a_reader_that_has_gone_stops_serve_at_once) {
    train_tiny();
    many_requests("many.jsonl", 20000);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "trap '' PIPE; (%s serve --model %s/run --batch 64 <%s/many.jsonl 2>%s/.err; echo $? >%s/.code) | "
             "head -c 1 >/dev/null",
             program(), fixture_dir, fixture_dir, fixture_dir, fixture_dir);
    ck_assert(system(cmd) == 0);
    char path[256], code[16];
    snprintf(path, sizeof path, "%s/.err", fixture_dir);
    slurp(path, errout, sizeof errout);
    snprintf(path, sizeof path, "%s/.code", fixture_dir);
    slurp(path, code, sizeof code);
    ck_assert_msg(atoi(code) == 1, "exit %s: %s", code, errout);
    ck_assert_msg(strstr(errout, "the reader of the answers has gone (stdout: Broken pipe); stopping at once"),
                  "%s", errout);
    const char *n = strstr(errout, "stopped at a failed write: ");
    ck_assert_msg(n && atol(n + 27) < 20000, "%s", errout);
}
END_TEST

/* Issue 22 item 11: a CRLF line of exactly --max-line bytes is taken however its bytes arrive (here its CR
 * in one write, its LF in the next), and "k": 2.0 is the whole number 2. */
START_TEST(a_crlf_line_of_max_line_bytes_is_taken_and_k_may_be_written_2_0) {
    train_tiny();
    char line[65], cmd[1024];
    int n = snprintf(line, sizeof line, "{\"id\": \"crlf\", \"items\": [\"item-3\"], \"k\": 2.0");
    memset(line + n, ' ', 63 - (size_t)n);
    line[63] = '}';
    line[64] = '\0';
    snprintf(cmd, sizeof cmd,
             "(printf '%%s\\r' '%s'; sleep 0.5; printf '\\n{\"id\": \"e\", \"items\": [\"item-3\"], \"k\": 1e1}\\n') | "
             "%s serve --model %s/run --max-line 64 >%s/.out 2>%s/.err",
             line, program(), fixture_dir, fixture_dir, fixture_dir);
    int status = system(cmd);
    char path[256], l[4096];
    snprintf(path, sizeof path, "%s/.out", fixture_dir);
    slurp(path, out, sizeof out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d", status);
    ck_assert_msg(out_line(0, l, sizeof l) && strstr(l, "{\"id\": \"crlf\", \"items\": [") == l, "%s", out);
    int commas = 0;
    for (const char *p = strstr(l, "\"items\""); *p != ']'; p++) commas += *p == ',';
    ck_assert_msg(commas == 1, "k 2.0 gave %d items: %s", commas + 1, l);
    ck_assert_msg(out_line(1, l, sizeof l) && strstr(l, "{\"id\": \"e\", \"items\": [") == l, "%s", out);
    commas = 0;
    for (const char *p = strstr(l, "\"items\""); *p != ']'; p++) commas += *p == ',';
    ck_assert_msg(commas == 9, "k 1e1 gave %d items: %s", commas + 1, l);
}
END_TEST

static Suite *serve_suite(void) {
    Suite *s = suite_create("serve");
    TCase *tc = fixture_tcase("serve");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, every_bad_line_gets_an_error_and_the_next_is_answered);
    tcase_add_test(tc, serve_gives_predicts_items_for_every_user);
    tcase_add_test(tc, a_folder_without_popular_txt_serves_and_a_tampered_one_is_refused);
    tcase_add_test(tc, predict_takes_unseen_users_and_unknown_items);
    tcase_add_test(tc, sigterm_ends_serve_after_the_batch_in_hand_with_143);
    tcase_add_test(tc, bad_serve_flags_exit_2);
    tcase_add_test(tc, flags_whose_plan_does_not_fit_are_refused_with_the_flag_to_lower);
    tcase_add_test(tc, a_burst_of_large_requests_is_answered_in_order);
    tcase_add_test(tc, a_full_disk_stops_serve_at_the_first_failed_write_with_4);
    tcase_add_test(tc, a_reader_that_has_gone_stops_serve_at_once);
    tcase_add_test(tc, a_crlf_line_of_max_line_bytes_is_taken_and_k_may_be_written_2_0);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(serve_suite)
