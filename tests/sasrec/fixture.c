#include "tests/sasrec/fixture.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char run_dir[64]; /* made before the tests, removed after them all, whatever failed */
char fixture_dir[96];

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
    snprintf(fixture_dir, sizeof fixture_dir, "%s/test-XXXXXX", run_dir);
    ck_assert_msg(mkdtemp(fixture_dir) != NULL, "mkdtemp failed");
}

static void teardown(void) { remove_tree(fixture_dir); }

/* Writes a file into the folder; returns its path (valid until the 8th next call). */
void slurp(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

const char *put(const char *name, const char *text, size_t len) {
    static char paths[8][512];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 512, "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

/* Loads a literal written to a file; fails the test with the message if loading fails. */
void load_ok(const char *name, const char *text, size_t len, const LoadOptions *opt, Dataset *ds) {
    NnError err = {0};
    int rc = dataset_load(put(name, text, len), opt, NULL, ds, &err);
    ck_assert_msg(rc == 0, "loading %s failed: %s", name, err.msg);
}

TCase *fixture_tcase(const char *name) {
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, run_setup, run_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

const char *fixture_path(const char *name) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", fixture_dir, name);
    return p;
}

const char *fixture_program(void) { return getenv("NN_SASREC") ? getenv("NN_SASREC") : "./sasrec"; }

void fixture_expand(const char *args, char *expanded, size_t size) {
    size_t n = 0;
    for (const char *p = args; *p && n + 200 < size; p++) {
        if (p[0] == '{' && p[1] == '}') {
            n += (size_t)snprintf(expanded + n, size - n, "%s", fixture_dir);
            p++;
        } else {
            expanded[n++] = *p;
        }
    }
    expanded[n] = '\0';
}

int fixture_run(const char *prefix, const char *args, char *out, size_t out_size, char *err, size_t err_size) {
    char expanded[4096], cmd[8192];
    fixture_expand(args, expanded, sizeof expanded);
    const char *so = fixture_path(".stdout"), *se = fixture_path(".stderr");
    snprintf(cmd, sizeof cmd, "%s %s %s >%s 2>%s", prefix, fixture_program(), expanded, so, se);
    int status = system(cmd);
    slurp(so, out, out_size);
    slurp(se, err, err_size);
    unlink(so);
    unlink(se);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void fixture_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

void fixture_tiny_csv(void) {
    char text[1 << 14];
    size_t n = (size_t)snprintf(text, sizeof text, "user,item,time\n");
    for (int u = 0; u < 60; u++)
        for (int k = 0; k < 8; k++)
            n += (size_t)snprintf(text + n, sizeof text - n, "user%d,item-%d,%d\n", u, (u * 2 + 3 * k) % 150, 1000 + k);
    fixture_write_text(fixture_path("tiny.csv"), text);
}

void fixture_tiny_seq(void) {
    char text[1 << 14];
    size_t n = 0;
    for (int u = 0; u < 60; u++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "user%d", u);
        for (int k = 0; k < 8; k++) n += (size_t)snprintf(text + n, sizeof text - n, " item-%d", (u * 2 + 3 * k) % 150);
        text[n++] = '\n';
    }
    put("tiny.txt", text, n);
}

void fixture_set_config(const char *name, const char *key, const char *value) {
    char path[512], cfg[8192], edited[8192], pat[64];
    snprintf(path, sizeof path, "%s/%s/config.json", fixture_dir, name);
    slurp(path, cfg, sizeof cfg);
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    char *p = strstr(cfg, pat);
    ck_assert_msg(p, "no %s in %s", key, cfg);
    char *end = p + strlen(pat) + strcspn(p + strlen(pat), ",\n");
    snprintf(edited, sizeof edited, "%.*s%s%s%s", (int)(p - cfg), cfg, pat, value, end);
    fixture_write_text(path, edited);
}

int fixture_count_entries(const char *prefix) {
    DIR *d = opendir(fixture_dir);
    ck_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

pid_t fixture_spawn(const char *args) {
    char expanded[4096], cmd[8192];
    fixture_expand(args, expanded, sizeof expanded);
    snprintf(cmd, sizeof cmd, "exec %s %s >%s 2>%s", fixture_program(), expanded, fixture_path(".bg_stdout"),
             fixture_path(".bg_stderr"));
    fflush(stdout);
    fflush(stderr);
    /* Check's handlers (its SIGTERM handler kills the test's process group) must never run in the child: the
     * signals stay blocked until the child has reset them */
    sigset_t block, saved;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &saved);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        sigprocmask(SIG_SETMASK, &saved, NULL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return pid;
}

int fixture_wait(pid_t pid, char *out, size_t out_size, char *err, size_t err_size) {
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (out) slurp(fixture_path(".bg_stdout"), out, out_size);
    slurp(fixture_path(".bg_stderr"), err, err_size);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
