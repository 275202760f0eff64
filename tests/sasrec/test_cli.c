/* The sasrec program as a user runs it: every bad command line and bad input
 * ends in a one-line message and the documented exit code, and leaves no
 * output behind; good runs train, evaluate and predict.
 *
 * The program is $NN_SASREC (default ./sasrec; make sets it, with valgrind in
 * front under make valgrind). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/sasrec/fixture.h" /* slurp */

static char dir[64];         /* this run's scratch folder */
static char out[1 << 16];    /* stdout of the last run */
static char errout[1 << 16]; /* stderr of the last run */

/* Runs "$NN_SASREC <args>" in the scratch folder's parent (the repository) and returns its exit code. */
static int run(const char *args) {
    const char *prog = getenv("NN_SASREC") ? getenv("NN_SASREC") : "./sasrec";
    char cmd[8192], o[128], e[128];
    snprintf(o, sizeof o, "%s/.stdout", dir);
    snprintf(e, sizeof e, "%s/.stderr", dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", prog, args, o, e);
    int status = system(cmd);
    slurp(o, out, sizeof out);
    slurp(e, errout, sizeof errout);
    unlink(o);
    unlink(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void write_file(const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *name) {
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Number of lines of stderr (a one-line message has exactly 1). */
static int err_lines(void) {
    int n = 0;
    for (const char *p = errout; *p; p++) n += *p == '\n';
    return n;
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/nn_cli_XXXXXX");
    ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert(system(cmd) == 0);
}

/* A bad command line: exit 2, one line naming the problem, no model folder. */
static void expect_usage_error(const char *args, const char *needle) {
    char full[1024];
    snprintf(full, sizeof full, "train --out %s/run %s", dir, args);
    int code = run(full);
    ck_assert_msg(code == 2, "'%s' exited %d, expected 2; stderr: %s", args, code, errout);
    ck_assert_msg(strstr(errout, needle), "'%s': stderr lacks '%s': %s", args, needle, errout);
    ck_assert_msg(err_lines() == 1, "'%s': the message is not one line: %s", args, errout);
    ck_assert_msg(!exists("run"), "'%s' left an output folder", args);
}

START_TEST(bad_flags_exit_2_before_any_work) {
    expect_usage_error("--frobnicate 3", "unknown flag '--frobnicate'");
    expect_usage_error("--hidden", "--hidden needs a value");
    expect_usage_error("--hidden 64 --heads 3", "--hidden 64 is not divisible by --heads 3");
    expect_usage_error("--max-len 0", "--max-len 0 is out of range");
    expect_usage_error("--lr -0.001", "--lr -0.001 is out of range");
    expect_usage_error("--lr nan", "--lr expects a finite number, got 'nan'");
    expect_usage_error("--batch 0", "--batch 0 is out of range");
    expect_usage_error("--epochs -3", "--epochs -3 is out of range");
    expect_usage_error("--dropout 1", "--dropout 1 is out of range");
    expect_usage_error("--dropout -0.1", "--dropout -0.1 is out of range");
    expect_usage_error("--threads 0", "--threads 0 is out of range");
    expect_usage_error("--hidden 6x4", "--hidden expects a whole number, got '6x4'");
    expect_usage_error("--eval fast", "--eval must be one of sample|full, got 'fast'");
    expect_usage_error("--data /nonexistent/ratings.csv", "--data /nonexistent/ratings.csv: No such file");
    expect_usage_error("--data /tmp", "is a folder");
    expect_usage_error("--sample-file /nonexistent/s.txt", "--sample-file /nonexistent/s.txt: No such file");
    expect_usage_error("stray", "unexpected argument 'stray'");
}
END_TEST

START_TEST(unwritable_output_exits_2) {
    write_file("file", "x");
    char args[512];
    snprintf(args, sizeof args, "train --out %s/file/run", dir); /* a path through a file */
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(strstr(errout, "--out") && err_lines() == 1, "%s", errout);
    ck_assert_int_eq(run("eval --model /nonexistent/run"), 2);
    ck_assert_msg(strstr(errout, "--model /nonexistent/run"), "%s", errout);
    ck_assert_int_eq(run("predict --model /nonexistent/run --out x.csv"), 2);
    ck_assert_int_eq(run("predict --out x.csv"), 2);
    ck_assert_msg(strstr(errout, "--model DIR is required"), "%s", errout);
    ck_assert_int_eq(run("frobnicate"), 2);
    ck_assert_int_eq(run("train --help"), 0);
    ck_assert_msg(strstr(out, "--max-len") && strstr(out, "default 50"), "%s", out);
}
END_TEST

/* Data the loader refuses: exit 1, the file and line named, no model folder. */
static void expect_data_error(const char *name, const char *text, const char *needle) {
    char args[512];
    write_file(name, text);
    snprintf(args, sizeof args, "train --data %s/%s --out %s/run --epochs 1", dir, name, dir);
    int code = run(args);
    ck_assert_msg(code == 1, "%s exited %d, expected 1; stderr: %s", name, code, errout);
    ck_assert_msg(strstr(errout, name) && strstr(errout, needle), "%s: stderr lacks '%s': %s", name, needle, errout);
    ck_assert_msg(err_lines() == 1, "%s: the message is not one line: %s", name, errout);
    ck_assert_msg(!exists("run"), "%s left an output folder behind", name);
}

START_TEST(bad_data_exits_1_with_a_message) {
    expect_data_error("empty.txt", "", "empty");
    expect_data_error("header.csv", "user,item,time\n", "header");
    expect_data_error("cols.csv", "user,item,time\nu1,i1\n", ":2");
    expect_data_error("time.csv", "user,item,time\nu1,i1,yesterday\n", ":2");
    expect_data_error("nul.txt", "u1 a b\0c d\n", "");
    expect_data_error("short.txt", "u1 a b\nu2 c d\n", "at least 3");
    /* a catalogue smaller than the 99 sampled negatives: refused, with the way out */
    expect_data_error("small.txt", "u1 a b c\nu2 b c d\nu3 a c d\n", "use --eval full");
}
END_TEST

/* A tiny data set that trains in a second: 60 users over 150 items, in string ids. */
static void write_tiny_data(void) {
    char text[1 << 14];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "user,item,time\n");
    for (int u = 0; u < 60; u++)
        for (int k = 0; k < 8; k++)
            n += (size_t)snprintf(text + n, sizeof text - n, "user%d,item-%d,%d\n", u, (u * 2 + 3 * k) % 150, 1000 + k);
    write_file("tiny.csv", text);
}

START_TEST(train_eval_predict_round_trip) {
    write_tiny_data();
    char args[1024];
    snprintf(args, sizeof args, "train --data %s/tiny.csv --out %s/run --epochs 2 --hidden 16 --max-len 8 --batch 16",
             dir, dir);
    ck_assert_msg(run(args) == 0, "train failed: %s", errout);
    /* the last stdout line is one flat JSON object with metrics in [0, 1] */
    char *last = strrchr(out, '{');
    ck_assert_msg(last && strstr(last, "\"HR@10\": ") && strstr(last, "\"MRR\": ") && strchr(last, '}'), "%s", out);
    const char *files[] = {"run/model.safetensors", "run/config.json", "run/items.txt",
                           "run/users.txt",         "run/log.jsonl",   "run/curve.svg"};
    for (int i = 0; i < 6; i++) ck_assert_msg(exists(files[i]), "train did not write %s", files[i]);
    snprintf(args, sizeof args, "eval --data %s/tiny.csv --model %s/run --eval full", dir, dir);
    ck_assert_msg(run(args) == 0, "eval failed: %s", errout);
    last = strrchr(out, '{');
    ck_assert_msg(last && strstr(last, "\"HR@20\": ") && strstr(last, "\"NDCG@20\": "), "%s", out);
    /* predict: header, K rows per user, raw ids, never an item the user has */
    snprintf(args, sizeof args, "predict --data %s/tiny.csv --model %s/run --k 5 --out %s/pred.csv", dir, dir, dir);
    ck_assert_msg(run(args) == 0, "predict failed: %s", errout);
    char path[256], line[256];
    snprintf(path, sizeof path, "%s/pred.csv", dir);
    FILE *f = fopen(path, "r");
    ck_assert(f && fgets(line, sizeof line, f) && strcmp(line, "user,item\n") == 0);
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        int u, item;
        ck_assert_msg(sscanf(line, "user%d,item-%d", &u, &item) == 2, "bad row: %s", line);
        for (int k = 0; k < 8; k++)
            ck_assert_msg(item != (u * 2 + 3 * k) % 150, "user%d got item-%d it has seen", u, item);
        rows++;
    }
    fclose(f);
    ck_assert_int_eq(rows, 60 * 5);
    /* --k beyond the catalogue is a problem of the data: exit 1, nothing written */
    snprintf(args, sizeof args, "predict --data %s/tiny.csv --model %s/run --k 500 --out %s/big.csv", dir, dir, dir);
    ck_assert_int_eq(run(args), 1);
    ck_assert_msg(strstr(errout, "--k 500 is larger than the"), "%s", errout);
    ck_assert(!exists("big.csv"));
    /* a checkpoint cut short is refused */
    snprintf(args, sizeof args, "truncate -s 100 %s/run/model.safetensors", dir);
    ck_assert(system(args) == 0);
    snprintf(args, sizeof args, "eval --data %s/tiny.csv --model %s/run", dir, dir);
    ck_assert_int_eq(run(args), 1);
    ck_assert_msg(strstr(errout, "model.safetensors"), "%s", errout);
}
END_TEST

START_TEST(explain_prints_shapes_of_the_batch) {
    write_tiny_data();
    char args[512];
    snprintf(args, sizeof args, "explain --data %s/tiny.csv --batch 4 --max-len 8 --hidden 16 --heads 4 --dot %s/g.dot",
             dir, dir);
    ck_assert_msg(run(args) == 0, "%s", errout);
    ck_assert_msg(strstr(out, "(B=4, L=8)") && strstr(out, "sequence output") && strstr(out, "(B=4, L=8, H=16)"), "%s",
                  out);
    ck_assert_msg(strstr(out, "(B=4, heads=4, L=8, d=4)"), "%s", out);
    ck_assert(exists("g.dot"));
}
END_TEST

/* The shares of explain --profile's table (the column ending in %), summed; *rows gets their number. */
static double profile_shares(const char *text, int *rows) {
    const char *line = strstr(text, "\nop ");
    double sum = 0;
    *rows = 0;
    for (line = line ? strchr(line + 1, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
        char row[256], phase[16];
        size_t len = strcspn(line + 1, "\n");
        snprintf(row, sizeof row, "%.*s", (int)(len < 255 ? len : 255), line + 1);
        long long calls;
        double ms, share;
        /* names may hold spaces: the phase word is the anchor */
        const char *ph = strstr(row, " forward ") ? strstr(row, " forward ")
                         : strstr(row, " backward ") ? strstr(row, " backward ") : strstr(row, " other ");
        if (!ph || sscanf(ph, "%15s %lld %lf %lf%%", phase, &calls, &ms, &share) != 4) break;
        sum += share;
        ++*rows;
    }
    return sum;
}

/* explain --preset profiles the preset's step (frontier: the per-sequence sampled softmax, with its FLOPs); its run
 * flags (--epochs, --eval) are not explain's and are skipped; a flag typed beside it wins. */
START_TEST(explain_profiles_a_presets_step) {
    write_tiny_data();
    char args[512];
    snprintf(args, sizeof args, "explain --data %s/tiny.csv --preset frontier --batch 60 --max-len 8 --hidden 32 "
             "--negatives 100 --profile", dir); /* 2 x 400 rows x 100 x 32: 0.0026 GFLOP forward */
    ck_assert_msg(run(args) == 0, "%s", errout);
    const char *row = strstr(out, "\nsampled_rows ");
    double ms, gflop;
    char phase[16];
    ck_assert_msg(row && sscanf(row, " sampled_rows %15s %*d %lf %*f%% %lf", phase, &ms, &gflop) == 3 && gflop > 0,
                  "%s", out);
    snprintf(args, sizeof args, "explain --data %s/tiny.csv --preset frontier --loss bce --batch 4 --max-len 8 "
             "--hidden 16 --profile", dir);
    ck_assert_msg(run(args) == 0, "%s", errout);
    ck_assert_msg(!strstr(out, "sampled_rows") && strstr(out, "bce_with_logits"), "%s", out);
}
END_TEST

START_TEST(explain_profile_prints_the_step_and_draws_it) {
    write_tiny_data();
    char args[512];
    snprintf(args, sizeof args, "explain --data %s/tiny.csv --batch 4 --max-len 8 --hidden 16 --heads 4 --profile "
             "--svg %s/p.svg", dir, dir);
    ck_assert_msg(run(args) == 0, "%s", errout);
    ck_assert_msg(strstr(out, "profile of one training step (length-aware") && strstr(out, "GFLOP/s") &&
                      strstr(out, "adam ") && strstr(out, "batch fill") && strstr(out, "attention "),
                  "%s", out);
    int rows;
    double shares = profile_shares(out, &rows);
    ck_assert_msg(rows > 10 && fabs(shares - 100) <= 0.05 * rows + 1e-9, "%d rows, shares sum to %.2f%%:\n%s", rows,
                  shares, out);
    char svg[1 << 14], path[256];
    snprintf(path, sizeof path, "%s/p.svg", dir);
    slurp(path, svg, sizeof svg);
    ck_assert_msg(strncmp(svg, "<svg ", 5) == 0 && strstr(svg, "</svg>\n") && strstr(svg, "adam (other)"), "%s", svg);
    /* --svg never writes onto the input: exit 2 before any work, the data unchanged */
    char before[4096], after[4096];
    snprintf(path, sizeof path, "%s/tiny.csv", dir);
    slurp(path, before, sizeof before);
    snprintf(args, sizeof args, "explain --data %s/tiny.csv --svg %s/tiny.csv", dir, dir);
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(strstr(errout, "--svg"), "%s", errout);
    slurp(path, after, sizeof after);
    ck_assert_str_eq(before, after);
}
END_TEST

/* The seq file name: user 0 has n0 items among 300, users 1..users-1 have 55 each among 400. */
static void write_seq_data(const char *name, int users, int n0) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    for (int u = 0; u < users; u++) {
        fprintf(f, "u%d", u);
        for (int k = 0, n = u == 0 ? n0 : 55; k < n; k++) fprintf(f, " %d", 1 + (u * 7 + k * 13) % (u == 0 ? 300 : 400));
        fputc('\n', f);
    }
    fclose(f);
}

/* A run whose plan exceeds the memory available (NN_MEMORY_LIMIT_MIB here) is refused before it allocates: exit
 * 2, one line with the estimate, its largest part and the flag to change, no output left behind. */
static void expect_refused(const char *args, const char *flag) {
    int code = run(args);
    ck_assert_msg(code == 2, "%s: exit %d, %s", args, code, errout);
    ck_assert_msg(err_lines() == 1 && strstr(errout, "needs about") && strstr(errout, "NN_MEMORY_LIMIT_MIB") &&
                      strstr(errout, flag),
                  "%s: %s", args, errout);
}

START_TEST(memory_plan_refuses_what_does_not_fit) {
    write_seq_data("long.txt", 40, 12000);
    write_seq_data("many.txt", 4000, 55);
    setenv("NN_MEMORY_LIMIT_MIB", "1024", 1);
    char args[1024];
    /* the cases that aborted with "out of memory" */
    snprintf(args, sizeof args, "train --data %s/long.txt --out %s/run --max-len 10000 --eval full", dir, dir);
    expect_refused(args, "--max-len");
    snprintf(args, sizeof args, "train --data %s/long.txt --out %s/run --max-len 10000 --dense --eval full", dir, dir);
    expect_refused(args, "--dense");
    snprintf(args, sizeof args, "explain --data %s/long.txt --max-len 10000", dir);
    expect_refused(args, "--max-len");
    snprintf(args, sizeof args, "train --data %s/many.txt --out %s/run --loss ce --batch 65536 --eval full", dir, dir);
    expect_refused(args, "--batch");
    ck_assert(!exists("run"));
    /* what fits runs */
    snprintf(args, sizeof args, "train --data %s/long.txt --out %s/run --epochs 1 --hidden 16 --eval full", dir, dir);
    ck_assert_msg(run(args) == 0, "%s", errout);
    /* eval and predict plan their passes too */
    setenv("NN_MEMORY_LIMIT_MIB", "1", 1);
    snprintf(args, sizeof args, "eval --data %s/long.txt --model %s/run --eval full", dir, dir);
    expect_refused(args, "--eval-batch");
    snprintf(args, sizeof args, "predict --data %s/long.txt --model %s/run --out %s/pred.csv", dir, dir, dir);
    expect_refused(args, "--eval-batch");
    ck_assert(!exists("pred.csv"));
    unsetenv("NN_MEMORY_LIMIT_MIB");
}
END_TEST

/* gen writes the same file for the same flags; the new losses, lazy Adam and the fast evaluation sampler
 * train on it and say what they did. */
START_TEST(gen_then_train_with_sampled_gbce_and_lazy_adam) {
    char args[1024], a[1 << 14], b[1 << 14];
    snprintf(args, sizeof args, "gen --users 300 --items 400 --avg-len 12 --seed 5 --out %s/g1.txt", dir);
    ck_assert_msg(run(args) == 0, "gen failed: %s", errout);
    ck_assert_msg(strstr(out, "300 users"), "%s", out);
    snprintf(args, sizeof args, "gen --users 300 --items 400 --avg-len 12 --seed 5 --out %s/g2.txt", dir);
    ck_assert(run(args) == 0);
    snprintf(args, sizeof args, "%s/g1.txt", dir);
    slurp(args, a, sizeof a);
    snprintf(args, sizeof args, "%s/g2.txt", dir);
    slurp(args, b, sizeof b);
    ck_assert_msg(strlen(a) > 1000 && strcmp(a, b) == 0, "gen is not deterministic");
    snprintf(args, sizeof args, "gen --users 10 --avg-len 50 --max-len 40 --out %s/g3.txt", dir);
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(strstr(errout, "--avg-len 50 must lie above --min-len"), "%s", errout);
    const char *runs[] = {"--loss sampled --negatives 32 --neg-dist pop --optimizer lazy-adam --sample-method fast",
                          "--loss gbce --negatives 16 --gbce-t 0.5 --clip 1 --optimizer lazy-adam"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "train --data %s/g1.txt --out %s/run%d --epochs 2 --hidden 16 --max-len 10 %s",
                 dir, dir, i, runs[i]);
        ck_assert_msg(run(args) == 0, "train %s failed: %s", runs[i], errout);
        ck_assert_msg(strstr(out, i ? "S3-Rec's lists" : "the fast sampler"), "%s", out);
        char *last = strrchr(out, '{');
        ck_assert_msg(last && strstr(last, "\"HR@10\": "), "%s", out);
    }
    snprintf(args, sizeof args, "train --data %s/g1.txt --out %s/run9 --loss gbce --neg-dist pop", dir, dir);
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(strstr(errout, "--loss gbce draws its negatives uniformly"), "%s", errout);
}
END_TEST

static Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_flags_exit_2_before_any_work);
    tcase_add_test(tc, unwritable_output_exits_2);
    tcase_add_test(tc, bad_data_exits_1_with_a_message);
    tcase_add_test(tc, train_eval_predict_round_trip);
    tcase_add_test(tc, explain_prints_shapes_of_the_batch);
    tcase_add_test(tc, explain_profile_prints_the_step_and_draws_it);
    tcase_add_test(tc, explain_profiles_a_presets_step);
    tcase_add_test(tc, memory_plan_refuses_what_does_not_fit);
    tcase_add_test(tc, gen_then_train_with_sampled_gbce_and_lazy_adam);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(cli_suite)
