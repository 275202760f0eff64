/* The user's files are sacred (issue 14): each of the thirteen cases,
 * rebuilt with the sasrec program as a user runs it, and a training run into
 * an existing model folder killed at random moments, after which the folder
 * always loads and gives exactly the old or the new model's metrics.
 *
 * The program is $NN_SASREC (default ./sasrec), run through /bin/sh from the
 * repository; every test works in its own temporary folder (fixture.h).
 *
 * Over 600 lines on purpose: the thirteen cases share the helpers at the top
 * (running the program, snapshotting a folder byte for byte, counting staging
 * folders), and read in the order as one checklist; split, each part
 * would carry a copy of those helpers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "models/sasrec/io/regular_file.h"
#include "io/safetensors.h"
#include "models/sasrec/io/sha256.h"
#include "models/sasrec/model.h"
#include "nn/checkpoint.h"
#include "tests/sasrec/fixture.h"

static char out[1 << 16];    /* stdout of the last run */
static char errout[1 << 16]; /* stderr of the last run */

/* Runs "<prefix> $NN_SASREC <args>" through /bin/sh (prefix: shell commands such as ulimit, may be "");
 * {} in args stands for the test's folder. Returns the exit code (128 + signal if killed). */
static int run_with(const char *prefix, const char *args) {
    return fixture_run(prefix, args, out, sizeof out, errout, sizeof errout);
}

static int run(const char *args) { return run_with("", args); }

#define RUN_OK(args) ck_assert_msg(run(args) == 0, "%s failed: %s", args, errout)
#define EXPECT(code, args, needle)                                                                                     \
    do {                                                                                                               \
        int got_ = run(args);                                                                                          \
        ck_assert_msg(got_ == (code), "%s exited %d, expected %d: %s", args, got_, code, errout);                      \
        ck_assert_msg(strstr(errout, needle), "%s: stderr lacks '%s': %s", args, needle, errout);                      \
    } while (0)

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

#define TRAIN "train --data {}/tiny.csv --epochs 2 --hidden 16 --max-len 8 --batch 16 "

/* Every file of a folder (names, kinds, sizes, modes and SHA-256 of contents), sorted, as one string: two
 * snapshots are equal when the folder was left exactly as it was. Caller frees. */
static char *snapshot(const char *dir) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    ck_assert_msg(n >= 0, "%s: %s", dir, strerror(errno));
    size_t cap = 256 + (size_t)n * 400, len = 0;
    char *s = malloc(cap);
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..") && lstat(path, &st) == 0) {
            Sha256Hex h = {"-"};
            if (S_ISREG(st.st_mode)) ck_assert(regular_file_sha256(path, 1u << 30, &h, NULL) == 0);
            len += (size_t)snprintf(s + len, cap - len, "%s %o %lld %s\n", names[i]->d_name, (unsigned)st.st_mode,
                                    (long long)st.st_size, h.s);
        }
        free(names[i]);
    }
    free(names);
    return s;
}

#define ASSERT_SAME(before, dir)                                                                                       \
    do {                                                                                                               \
        char *now_ = snapshot(dir);                                                                                    \
        ck_assert_msg(strcmp(before, now_) == 0, "%s changed:\nbefore:\n%s\nafter:\n%s", dir, before, now_);           \
        free(now_);                                                                                                    \
    } while (0)

/* Number of staging folders (".NAME.sasrec-...") beside fixture_dir/name. */
static int staging_folders(const char *name) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, ".%s.sasrec-", name);
    return fixture_count_entries(prefix);
}

/* Files with ".tmp." in their name under fixture_dir, one level of folders down. */
static int temporaries(void) {
    char cmd[600], buf[64];
    snprintf(cmd, sizeof cmd, "find %s -maxdepth 2 -name '*.tmp.*' | wc -l", fixture_dir);
    FILE *p = popen(cmd, "r");
    ck_assert(p && fgets(buf, sizeof buf, p));
    pclose(p);
    return atoi(buf);
}

/* The metrics of eval on the model folder name (the JSON line without its timing). */
static void eval_metrics(const char *name, char *metrics, size_t size) {
    char args[256];
    snprintf(args, sizeof args, "eval --data {}/tiny.csv --model {}/%s", name);
    ck_assert_msg(run(args) == 0, "eval of %s failed: %s", name, errout);
    char *last = strrchr(out, '{'), *cut = last ? strstr(last, ", \"seconds\"") : NULL;
    ck_assert_msg(cut, "%s", out);
    *cut = '\0';
    snprintf(metrics, size, "%s", last);
}

/* ---- 1: --out that is not a model folder; a refused run into a model folder ---- */

START_TEST(case01_out_refuses_folders_that_are_not_model_folders) {
    fixture_tiny_csv();
    ck_assert_int_eq(mkdir(fixture_path("notes"), 0755), 0);
    fixture_write_text(fixture_path("notes/config.json"), "{\"theme\": \"dark\"}\n");
    fixture_write_text(fixture_path("notes/items.txt"), "my shopping list\n");
    char *before = snapshot(fixture_path("notes"));
    EXPECT(2, TRAIN "--out {}/notes", "is not empty and is not a model folder");
    ASSERT_SAME(before, fixture_path("notes"));
    EXPECT(2, TRAIN "--out {}/notes/.", "is not a model folder"); /* `cd notes && sasrec train --out .` */
    ASSERT_SAME(before, fixture_path("notes"));
    ck_assert_int_eq(staging_folders("notes"), 0);
    /* --force: the new model takes the name, the user's folder is kept whole beside it */
    RUN_OK(TRAIN "--out {}/notes --force");
    ck_assert_msg(strstr(errout, "kept whole as") && strstr(errout, "notes.previous"), "%s", errout);
    ASSERT_SAME(before, fixture_path("notes.previous"));
    ck_assert(exists(fixture_path("notes/model.safetensors")));
    free(before);

    /* a model folder and a run refused for its size by the memory plan: the folder is left exactly as it was */
    RUN_OK(TRAIN "--out {}/m1");
    char metrics[1024], again[1024];
    eval_metrics("m1", metrics, sizeof metrics);
    before = snapshot(fixture_path("m1"));
    EXPECT(2, TRAIN "--hidden 4096 --layers 64 --out {}/m1", "needs about"); /* the memory plan (issue 11) */
    ck_assert_msg(strstr(errout, "--out ") && strstr(errout, "was left as it was"), "%s", errout);
    ASSERT_SAME(before, fixture_path("m1"));
    eval_metrics("m1", again, sizeof again);
    ck_assert_str_eq(metrics, again);
    ck_assert_int_eq(staging_folders("m1"), 0);
    free(before);
    /* an empty folder is fine */
    ck_assert_int_eq(mkdir(fixture_path("empty"), 0755), 0);
    RUN_OK(TRAIN "--out {}/empty");
    ck_assert(exists(fixture_path("empty/config.json")));
}
END_TEST

/* ---- 2: a failed run, and two runs at once, into one model folder ---- */

static pid_t spawn(const char *args) { return fixture_spawn(args); }

static int wait_for(pid_t pid) { return fixture_wait(pid, NULL, 0, errout, sizeof errout); }

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1e3), (long)((ms - 1e3 * (double)(time_t)(ms / 1e3)) * 1e6)};
    nanosleep(&ts, NULL);
}

/* Waits (up to a minute) until a staging folder of name exists: the run has passed its checks and holds the lock. */
static void wait_for_staging(const char *name, pid_t pid) {
    for (int i = 0; i < 6000 && staging_folders(name) == 0; i++) {
        int status;
        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0, "the run ended before staging: %d", status);
        sleep_ms(10);
    }
    ck_assert_msg(staging_folders(name) > 0, "no staging folder of %s appeared", name);
}

START_TEST(case02_failed_and_concurrent_runs_leave_the_folder_whole) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/m");
    char metrics[1024], again[1024];
    eval_metrics("m", metrics, sizeof metrics);
    char *before = snapshot(fixture_path("m"));
    /* a run that fails while writing (the file size limit stands for a full disk) */
    int code = run_with("trap '' XFSZ; ulimit -f 40;", TRAIN "--seed 7 --out {}/m");
    ck_assert_msg(code == 4, "exit %d: %s", code, errout);
    ck_assert_msg(strstr(errout, "was left as it was"), "%s", errout);
    ASSERT_SAME(before, fixture_path("m"));
    eval_metrics("m", again, sizeof again);
    ck_assert_str_eq(metrics, again);
    ck_assert_int_eq(staging_folders("m"), 0);
    ck_assert_int_eq(temporaries(), 0);
    /* two runs at once: the second is refused, naming the first, while the first holds the folder */
    pid_t first = spawn(TRAIN "--seed 7 --out {}/m");
    wait_for_staging("m", first);
    kill(first, SIGSTOP);
    EXPECT(2, TRAIN "--seed 8 --out {}/m", "is being written by another sasrec train");
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)first);
    ck_assert_msg(strstr(errout, pid), "the holder is not named (%s): %s", pid, errout);
    kill(first, SIGCONT);
    ck_assert_msg(wait_for(first) == 0, "%s", errout);
    ck_assert_int_eq(staging_folders("m"), 0);
    eval_metrics("m", again, sizeof again); /* the first run's model, whole */
    ck_assert_str_ne(metrics, again);
    free(before);
}
END_TEST

/* ---- 3: log.jsonl as a link to a victim ---- */

START_TEST(case03_no_output_through_a_symlink) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/out");
    fixture_write_text(fixture_path("victim.txt"), "the user's precious file\n");
    unlink(fixture_path("out/log.jsonl"));
    ck_assert_int_eq(symlink("../victim.txt", fixture_path("out/log.jsonl")), 0);
    EXPECT(2, TRAIN "--out {}/out", "log.jsonl");
    RUN_OK(TRAIN "--out {}/out --force");
    char buf[256];
    slurp(fixture_path("victim.txt"), buf, sizeof buf);
    ck_assert_str_eq(buf, "the user's precious file\n");
    ck_assert(exists(fixture_path("out.previous/log.jsonl"))); /* the link itself is kept, untouched */
    /* --out itself a link to a folder: refused */
    ck_assert_int_eq(symlink("out", fixture_path("link")), 0);
    EXPECT(2, TRAIN "--out {}/link", "symbolic link");
    /* predict --out a link: refused, the victim untouched */
    ck_assert_int_eq(symlink("victim.txt", fixture_path("sub.csv")), 0);
    EXPECT(2, "predict --data {}/tiny.csv --model {}/out --out {}/sub.csv", "symbolic link");
    slurp(fixture_path("victim.txt"), buf, sizeof buf);
    ck_assert_str_eq(buf, "the user's precious file\n");
}
END_TEST

/* ---- 4: files that look like temporary files are not ours to delete ---- */

START_TEST(case04_cleanup_deletes_only_its_own_files) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/m");
    fixture_write_text(fixture_path("sub.csv.tmp.before"), "keep me\n");
    fixture_write_text(fixture_path("sub.csv.tmp.ABCDEF"), "keep me too\n");
    fixture_write_text(fixture_path("m.tmp.XYZ123"), "and me\n");
    RUN_OK("predict --data {}/tiny.csv --model {}/m --out {}/sub.csv");
    RUN_OK(TRAIN "--seed 3 --out {}/m");
    ck_assert(exists(fixture_path("sub.csv.tmp.before")) && exists(fixture_path("sub.csv.tmp.ABCDEF")) && exists(fixture_path("m.tmp.XYZ123")));
    /* inside a model folder a file train did not write makes it not a model folder: refused, kept */
    fixture_write_text(fixture_path("m/config.json.tmp.backup"), "{\"old\": true}\n");
    EXPECT(2, TRAIN "--out {}/m", "config.json.tmp.backup");
    RUN_OK(TRAIN "--out {}/m --force");
    ck_assert(exists(fixture_path("m.previous/config.json.tmp.backup")));
}
END_TEST

/* ---- 5: NaN weights, and finite weights whose scores overflow ---- */

/* Rewrites model folder name's checkpoint with every weight (or the item table) set to value, and its checksum. */
static void poison(const char *name, float value, int item_table_only) {
    char path[512], cfg_path[512];
    snprintf(path, sizeof path, "%s/%s/model.safetensors", fixture_dir, name);
    snprintf(cfg_path, sizeof cfg_path, "%s/%s/config.json", fixture_dir, name);
    NnError err;
    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    int n = safetensors_count(st);
    Tensor **ts = calloc((size_t)n, sizeof *ts);
    const char **names = calloc((size_t)n, sizeof *names);
    for (int i = 0; i < n; i++) {
        names[i] = safetensors_name(st, i);
        ts[i] = safetensors_load(st, names[i], &err);
        if (!item_table_only || strcmp(names[i], "item_emb.weight") == 0)
            for (int64_t k = 0; k < ts[i]->numel; k++) ts[i]->data[k] = value;
    }
    ck_assert_msg(safetensors_write(path, n, names, (const Tensor *const *)ts, 0, NULL, NULL, &err) == 0, "%s",
                  err.msg);
    for (int i = 0; i < n; i++) tensor_free(ts[i]);
    free(ts);
    free(names);
    safetensors_free(st);
    /* the checksum follows, as if the run itself had produced these weights */
    Sha256Hex h;
    ck_assert(regular_file_sha256(path, 1u << 30, &h, NULL) == 0);
    char cfg[8192];
    slurp(cfg_path, cfg, sizeof cfg);
    char *p = strstr(cfg, "\"model_sha256\": \"");
    ck_assert(p);
    memcpy(p + strlen("\"model_sha256\": \""), h.s, 64);
    fixture_write_text(cfg_path, cfg);
}

START_TEST(case05_nan_scores_are_refused) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/nan");
    poison("nan", NAN, 0);
    EXPECT(1, "eval --data {}/tiny.csv --model {}/nan", "NaN");
    ck_assert_msg(strstr(errout, "tensor '"), "the tensor is not named: %s", errout);
    EXPECT(1, "predict --data {}/tiny.csv --model {}/nan --out {}/p.csv", "NaN");
    ck_assert(!exists(fixture_path("p.csv")));
    /* finite weights so large that the scores overflow */
    RUN_OK(TRAIN "--out {}/big");
    poison("big", 3e38f, 1);
    EXPECT(1, "eval --data {}/tiny.csv --model {}/big --eval full", "NaN or infinite scores");
    EXPECT(1, "eval --data {}/tiny.csv --model {}/big", "NaN or infinite scores");
    EXPECT(1, "predict --data {}/tiny.csv --model {}/big --out {}/p.csv", "NaN or infinite scores");
    ck_assert(!exists(fixture_path("p.csv")));
    ck_assert_int_eq(temporaries(), 0);
}
END_TEST

/* ---- 6: config.json's sizes are checked against the checkpoint before anything is built ---- */

START_TEST(case06_config_is_checked_before_allocation) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/m");
    fixture_set_config("m", "hidden", "4096");
    fixture_set_config("m", "layers", "64");
    EXPECT(1, "eval --data {}/tiny.csv --model {}/m", "do not belong together");
    ck_assert_msg(strstr(errout, "hidden 4096"), "%s", errout);
    fixture_set_config("m", "layers", "2");
    fixture_set_config("m", "max_len", "10000");
    EXPECT(1, "eval --data {}/tiny.csv --model {}/m", "do not belong together");
    fixture_set_config("m", "hidden", "16");
    EXPECT(1, "predict --data {}/tiny.csv --model {}/m --out {}/p.csv", "pos_emb.weight");
    fixture_set_config("m", "max_len", "8");
    fixture_set_config("m", "layers", "3");
    EXPECT(1, "eval --data {}/tiny.csv --model {}/m", "encoder.layers.2.ffn.fc1.weight");
    fixture_set_config("m", "layers", "1");
    EXPECT(1, "eval --data {}/tiny.csv --model {}/m", "more than the 1 blocks");
    fixture_set_config("m", "layers", "2");
    fixture_set_config("m", "n_items", "2000000000");
    EXPECT(1, "eval --data {}/tiny.csv --model {}/m", "n_items");
}
END_TEST

/* ---- 8: explain --dot on a full disk ---- */

START_TEST(case08_explain_dot_is_atomic_and_checked) {
    fixture_tiny_csv();
    fixture_write_text(fixture_path("g.dot"), "the old graph\n");
    int code = run_with("trap '' XFSZ; ulimit -f 16;",
                        "explain --data {}/tiny.csv --batch 4 --max-len 8 --hidden 16 --heads 4 --dot {}/g.dot");
    ck_assert_msg(code == 4, "exit %d: %s", code, errout);
    ck_assert_msg(strstr(errout, "g.dot") && strstr(errout, "File too large"), "%s", errout);
    char buf[256];
    slurp(fixture_path("g.dot"), buf, sizeof buf);
    ck_assert_str_eq(buf, "the old graph\n");
    ck_assert_int_eq(temporaries(), 0);
    RUN_OK("explain --data {}/tiny.csv --batch 4 --max-len 8 --hidden 16 --heads 4 --dot {}/g.dot");
    slurp(fixture_path("g.dot"), buf, sizeof buf);
    ck_assert_msg(strncmp(buf, "digraph", 7) == 0, "%s", buf);
    EXPECT(2, "explain --data {}/tiny.csv --dot {}", "folder");
}
END_TEST

/* ---- 9: SIGINT and SIGTERM ---- */

#define LONG_TRAIN "train --data {}/tiny.csv --epochs 100000 --patience 100000 --hidden 16 --max-len 8 --batch 16 "

START_TEST(case09_signals_stop_cleanly) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/m");
    char *before = snapshot(fixture_path("m"));
    const int sigs[] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        pid_t pid = spawn(LONG_TRAIN "--out {}/m");
        wait_for_staging("m", pid);
        sleep_ms(300); /* into the epochs */
        kill(pid, sigs[i]);
        int code = wait_for(pid);
        ck_assert_msg(code == 128 + sigs[i], "exit %d: %s", code, errout);
        const char *name = sigs[i] == SIGINT ? "SIGINT" : "SIGTERM";
        ck_assert_msg(strstr(errout, "stopping after the current step") && strstr(errout, name) &&
                          strstr(errout, "was left as it was"),
                      "%s", errout);
        ASSERT_SAME(before, fixture_path("m"));
        ck_assert_int_eq(staging_folders("m"), 0);
        ck_assert_int_eq(temporaries(), 0);
    }
    /* a second signal stops at once, and still removes what the run made */
    pid_t pid = spawn(LONG_TRAIN "--out {}/m");
    wait_for_staging("m", pid);
    kill(pid, SIGINT);
    sleep_ms(5);
    kill(pid, SIGINT);
    int code = wait_for(pid);
    ck_assert_msg(code == 130, "exit %d: %s", code, errout);
    ASSERT_SAME(before, fixture_path("m"));
    ck_assert_int_eq(staging_folders("m"), 0);
    ck_assert_int_eq(temporaries(), 0);
    /* predict interrupted: no file, no temporary file */
    pid = spawn("predict --data {}/tiny.csv --model {}/m --out {}/p.csv");
    kill(pid, SIGTERM);
    code = wait_for(pid);
    ck_assert_msg(code == 143 || code == 0, "exit %d: %s", code, errout);
    ck_assert_int_eq(temporaries(), 0);
    free(before);
}
END_TEST

/* ---- 10: FIFOs and devices in a model folder ---- */

START_TEST(case10_fifos_and_devices_are_refused_without_blocking) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/m");
    const char *files[] = {"config.json", "items.txt", "model.safetensors"};
    for (int i = 0; i < 3; i++) {
        char path[512], saved[512];
        snprintf(path, sizeof path, "%s/m/%s", fixture_dir, files[i]);
        snprintf(saved, sizeof saved, "%s/saved", fixture_dir);
        ck_assert_int_eq(rename(path, saved), 0);
        ck_assert_int_eq(mkfifo(path, 0600), 0);
        EXPECT(1, "eval --data {}/tiny.csv --model {}/m", "FIFO");
        ck_assert_msg(strstr(errout, files[i]), "%s", errout);
        unlink(path);
        ck_assert_int_eq(symlink("/dev/zero", path), 0);
        EXPECT(1, "eval --data {}/tiny.csv --model {}/m", "device");
        unlink(path);
        ck_assert_int_eq(rename(saved, path), 0);
    }
    RUN_OK("eval --data {}/tiny.csv --model {}/m");
}
END_TEST

/* ---- 11: predict --out ---- */

START_TEST(case11_predict_out_keeps_mode_and_refuses_bad_paths) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/m");
    fixture_write_text(fixture_path("sub.csv"), "old\n");
    ck_assert_int_eq(chmod(fixture_path("sub.csv"), 0600), 0);
    RUN_OK("predict --data {}/tiny.csv --model {}/m --out {}/sub.csv");
    struct stat st;
    ck_assert_int_eq(stat(fixture_path("sub.csv"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* a folder: refused before any work (no data line printed) */
    EXPECT(2, "predict --data {}/tiny.csv --model {}/m --out {}/m", "folder");
    ck_assert_msg(!strstr(out, "data:"), "%s", out);
    char *before = snapshot(fixture_path("m"));
    EXPECT(2, "predict --data {}/tiny.csv --model {}/m --out {}/m/model.safetensors", "inside the model folder");
    EXPECT(2, "predict --data {}/tiny.csv --model {}/m --out {}/m/new.csv", "inside the model folder");
    ASSERT_SAME(before, fixture_path("m"));
    EXPECT(2, "predict --data {}/tiny.csv --model {}/m --out {}/tiny.csv", "is the input");
    free(before);
}
END_TEST

/* ---- 12: items.txt tied to the weights ---- */

START_TEST(case12_checksums_tie_the_files_together) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/a");
    RUN_OK(TRAIN "--seed 5 --out {}/b");
    /* items.txt with two lines swapped */
    char items[1 << 14];
    slurp(fixture_path("a/items.txt"), items, sizeof items);
    char *nl = strchr(items, '\n'), *nl2 = strchr(nl + 1, '\n');
    char swapped[1 << 14];
    snprintf(swapped, sizeof swapped, "%.*s%.*s%s", (int)(nl2 - nl), nl + 1, (int)(nl - items + 1), items, nl2 + 1);
    char path[512];
    snprintf(path, sizeof path, "%s/a/items.txt", fixture_dir);
    fixture_write_text(path, swapped);
    EXPECT(1, "eval --data {}/tiny.csv --model {}/a", "does not match the SHA-256");
    ck_assert_msg(strstr(errout, "items.txt"), "%s", errout);
    fixture_write_text(path, items);
    RUN_OK("eval --data {}/tiny.csv --model {}/a");
    /* a folder mixed from two runs: b's weights beside a's config */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp %s/b/model.safetensors %s/a/model.safetensors", fixture_dir, fixture_dir);
    ck_assert(system(cmd) == 0);
    EXPECT(1, "predict --data {}/tiny.csv --model {}/a --out {}/p.csv", "model.safetensors does not match");
    /* a folder of the previous version (no checksums) still loads, with a note */
    snprintf(cmd, sizeof cmd, "grep -v 'sha256\\|sasrec_model_folder' %s/b/config.json | sed 's/\"eval_batch\": \\([0-9]*\\),/\"eval_batch\": \\1/' > %s/cfg && mv %s/cfg %s/b/config.json",
             fixture_dir, fixture_dir, fixture_dir, fixture_dir);
    ck_assert(system(cmd) == 0);
    RUN_OK("eval --data {}/tiny.csv --model {}/b");
    ck_assert_msg(strstr(errout, "records no checksums"), "%s", errout);
}
END_TEST

/* ---- 13: out of space exits 4 ---- */

START_TEST(case13_lack_of_space_has_its_own_exit_code) {
    fixture_tiny_csv();
    int code = run_with("trap '' XFSZ; ulimit -f 40;", TRAIN "--out {}/m");
    ck_assert_msg(code == 4, "exit %d: %s", code, errout);
    ck_assert_msg(strstr(errout, "File too large"), "%s", errout);
    ck_assert(!exists(fixture_path("m")));
    ck_assert_int_eq(staging_folders("m"), 0);
    RUN_OK(TRAIN "--out {}/m");
    code = run_with("trap '' XFSZ; ulimit -f 1;", "predict --data {}/tiny.csv --model {}/m --out {}/p.csv");
    ck_assert_msg(code == 4, "exit %d: %s", code, errout);
    ck_assert(!exists(fixture_path("p.csv")));
    ck_assert_int_eq(temporaries(), 0);
}
END_TEST

/* ---- killed at random moments ---- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

START_TEST(kill_at_random_moments_leaves_old_or_new_model) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--seed 1 --out {}/pristine");
    char old_m[1024], new_m[1024], got[1024], cmd[1024];
    eval_metrics("pristine", old_m, sizeof old_m);
    double t0 = now_ms();
    RUN_OK(TRAIN "--seed 2 --out {}/reference");
    double train_ms = now_ms() - t0;
    eval_metrics("reference", new_m, sizeof new_m);
    ck_assert_str_ne(old_m, new_m);
    int trials = test_quick() ? 4 : 16, olds = 0, news = 0, leftovers = 0;
    unsigned seed = 12345;
    for (int t = 0; t < trials; t++) {
        snprintf(cmd, sizeof cmd, "rm -rf %s/m && cp -rp %s/pristine %s/m", fixture_dir, fixture_dir, fixture_dir);
        ck_assert(system(cmd) == 0);
        int sig = t % 4 == 3 ? SIGINT : SIGKILL; /* one in four a SIGINT */
        pid_t pid = spawn(TRAIN "--seed 2 --out {}/m");
        seed = seed * 1103515245u + 12345u;
        sleep_ms(train_ms * 1.2 * (double)(seed >> 16 & 0x7fff) / 32768.0);
        kill(pid, sig);
        int code = wait_for(pid);
        eval_metrics("m", got, sizeof got);
        int is_old = strcmp(got, old_m) == 0, is_new = strcmp(got, new_m) == 0;
        ck_assert_msg(is_old || is_new, "trial %d (signal %d, exit %d): metrics %s are neither the old %s nor the new %s",
                      t, sig, code, got, old_m, new_m);
        if (sig == SIGINT) {
            ck_assert_msg(code == 130 || code == 0, "SIGINT: exit %d: %s", code, errout);
            ck_assert_msg(code == 130 ? is_old : is_new, "SIGINT exit %d but the %s model", code, is_old ? "old" : "new");
            ck_assert_int_eq(staging_folders("m"), 0);
        }
        olds += is_old;
        news += is_new;
        /* a SIGKILL can leave a staging folder: hidden beside m, noted by the next run, never a part of m */
        leftovers += staging_folders("m");
        snprintf(cmd, sizeof cmd, "rm -rf %s/.m.sasrec-*", fixture_dir);
        ck_assert(system(cmd) == 0);
    }
    printf("test_files: %d kills of a training run into a model folder: the folder loaded every time, %d times "
           "with the old model's metrics, %d with the new one's; %d staging folders left by SIGKILL\n",
           trials, olds, news, leftovers);
}
END_TEST

static Suite *files_suite(void) {
    Suite *s = suite_create("files");
    TCase *tc = fixture_tcase("files");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, case01_out_refuses_folders_that_are_not_model_folders);
    tcase_add_test(tc, case02_failed_and_concurrent_runs_leave_the_folder_whole);
    tcase_add_test(tc, case03_no_output_through_a_symlink);
    tcase_add_test(tc, case04_cleanup_deletes_only_its_own_files);
    tcase_add_test(tc, case05_nan_scores_are_refused);
    tcase_add_test(tc, case06_config_is_checked_before_allocation);
    tcase_add_test(tc, case08_explain_dot_is_atomic_and_checked);
    tcase_add_test(tc, case09_signals_stop_cleanly);
    tcase_add_test(tc, case10_fifos_and_devices_are_refused_without_blocking);
    tcase_add_test(tc, case11_predict_out_keeps_mode_and_refuses_bad_paths);
    tcase_add_test(tc, case12_checksums_tie_the_files_together);
    tcase_add_test(tc, case13_lack_of_space_has_its_own_exit_code);
    tcase_add_test(tc, kill_at_random_moments_leaves_old_or_new_model);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(files_suite)
