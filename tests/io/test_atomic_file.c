/* Atomic saves (io/atomic_file.h): an aborted save keeps the previous file,
 * no save deletes a file it did not make, links, folders, FIFOs and devices
 * are refused, a replaced file keeps its mode, a full disk keeps the old file,
 * an exit at once removes open temporary files, and a safetensors save killed
 * with SIGKILL at random moments never leaves a partial file. */
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "io/atomic_file.h"
#include "io/tempfiles.h"
#include "tests/io/st_support.h"

/* ---- atomic saves ---- */

START_TEST(st_atomic_abort_keeps_previous) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    tmp_path(&td, "keep.txt", path, sizeof path);
    NnError err;
    AtomicFile *af = atomic_open(path, &err);
    ck_assert_msg(af, "%s", err.msg);
    ck_assert_str_eq(atomic_path(af), path);
    fputs("old", atomic_stream(af));
    ck_assert_msg(atomic_commit(af, &err) == 0, "%s", err.msg);
    /* a new version is written, then dropped: the old one stays */
    af = atomic_open(path, &err);
    ck_assert_msg(af, "%s", err.msg);
    fputs("new, but abandoned", atomic_stream(af));
    fflush(atomic_stream(af));
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 1);
    atomic_abort(af);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    size_t len;
    unsigned char *b = read_all(path, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(b, "old", 3) == 0);
    free(b);
    /* the file gets the usual permissions, not mkstemp's 0600 */
    struct stat sb;
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0666 & ~mask);
    ck_assert_ptr_null(atomic_open("", &err));
    ck_assert_ptr_null(atomic_open("some/folder/", &err));
    ck_assert_msg(strstr(err.msg, "not a file path"), "%s", err.msg);
    tmp_remove(&td);
}
END_TEST

START_TEST(st_atomic_never_deletes_what_it_did_not_make) {
    TmpDir td;
    tmp_make(&td);
    char path[1024], p[1100];
    tmp_path(&td, "m.safetensors", path, sizeof path);
    /* names a killed save could have left, and look-alikes: none is this process's, so all stay */
    const char *keep[] = {"m.safetensors.tmp.AbC123", "m.safetensors.tmp.zzzzzz", "m.safetensors.tmp.before",
                          "x.safetensors.tmp.AbC123"};
    for (int i = 0; i < 4; i++) write_all(tmp_path(&td, keep[i], p, sizeof p), "x", 1);
    NnError err;
    AtomicFile *busy = atomic_open(path, &err);
    ck_assert_msg(busy, "%s", err.msg);
    ck_assert_msg(safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(access(tmp_path(&td, keep[i], p, sizeof p), F_OK), 0);
    ck_assert_int_eq(tmp_count(&td, "m.safetensors.tmp."), 3 + 1); /* the look-alikes and the busy one */
    fputs("busy", atomic_stream(busy));
    ck_assert_msg(atomic_commit(busy, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tmp_count(&td, "m.safetensors.tmp."), 3);
    atomic_abort(atomic_open(path, &err));
    for (int i = 0; i < 4; i++) ck_assert_int_eq(access(tmp_path(&td, keep[i], p, sizeof p), F_OK), 0);
    tmp_remove(&td);
}
END_TEST

/* atomic_open refuses path; the message names it and says what it is. */
static void expect_refused(const char *path, const char *needle) {
    NnError err;
    AtomicFile *af = atomic_open(path, &err);
    ck_assert_msg(af == NULL, "%s was accepted", path);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, needle), "%s", err.msg);
    ck_assert_int_eq(atomic_check_target(path, &err), -1);
}

START_TEST(st_atomic_refuses_links_folders_fifos_devices) {
    TmpDir td;
    tmp_make(&td);
    char victim[1024], link[1024], fifo[1024], sub[1024];
    write_all(tmp_path(&td, "victim.txt", victim, sizeof victim), "precious", 8);
    ck_assert_int_eq(symlink(victim, tmp_path(&td, "link.txt", link, sizeof link)), 0);
    ck_assert_int_eq(mkfifo(tmp_path(&td, "fifo", fifo, sizeof fifo), 0600), 0);
    ck_assert_int_eq(mkdir(tmp_path(&td, "sub", sub, sizeof sub), 0700), 0);
    expect_refused(link, "symbolic link");
    expect_refused(sub, "folder");
    expect_refused(fifo, "FIFO");
    expect_refused("/dev/null", "device");
    /* a link made after atomic_open is refused at commit: the victim is untouched */
    char late[1024];
    tmp_path(&td, "late.txt", late, sizeof late);
    NnError err;
    AtomicFile *af = atomic_open(late, &err);
    ck_assert_msg(af, "%s", err.msg);
    fputs("new", atomic_stream(af));
    ck_assert_int_eq(symlink(victim, late), 0);
    ck_assert_int_eq(atomic_commit(af, &err), -1);
    ck_assert_msg(strstr(err.msg, "symbolic link"), "%s", err.msg);
    size_t len;
    unsigned char *b = read_all(victim, &len);
    ck_assert(len == 8 && memcmp(b, "precious", 8) == 0);
    free(b);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    unlink(late);
    unlink(link);
    unlink(fifo);
    rmdir(sub);
    tmp_remove(&td);
}
END_TEST

START_TEST(st_atomic_replacement_keeps_the_mode) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    write_all(tmp_path(&td, "secret.csv", path, sizeof path), "old", 3);
    ck_assert_int_eq(chmod(path, 0600), 0);
    NnError err;
    AtomicFile *af = atomic_open(path, &err);
    ck_assert_msg(af, "%s", err.msg);
    fputs("new", atomic_stream(af));
    ck_assert_msg(atomic_commit(af, &err) == 0, "%s", err.msg);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    tmp_remove(&td);
}
END_TEST

/* A write past RLIMIT_FSIZE fails with EFBIG, as a full disk fails with ENOSPC: the
 * commit reports it as a lack of space, keeps the old file and leaves no temporary file. */
START_TEST(st_atomic_full_disk_keeps_old_file) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    write_all(tmp_path(&td, "out.dot", path, sizeof path), "old", 3);
    fflush(stdout);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        NnError err;
        AtomicFile *af = atomic_open(path, &err);
        if (!af) _exit(10);
        for (int i = 0; i < 10000; i++) fputs("0123456789", atomic_stream(af));
        int rc = atomic_commit(af, &err);
        _exit(rc == -1 && err.resource && strstr(err.msg, "File too large") ? 0 : 11);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    size_t len;
    unsigned char *b = read_all(path, &len);
    ck_assert(len == 3 && memcmp(b, "old", 3) == 0);
    free(b);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    tmp_remove(&td);
}
END_TEST

/* An exit at once removes the temporary files of writes still open, and nothing else. */
START_TEST(st_tempfiles_remove_all_removes_open_writes) {
    TmpDir td;
    tmp_make(&td);
    char a[1024], b[1024], other[1024];
    write_all(tmp_path(&td, "other.tmp.ABCDEF", other, sizeof other), "x", 1);
    NnError err;
    AtomicFile *fa = atomic_open(tmp_path(&td, "a.csv", a, sizeof a), &err);
    AtomicFile *fb = atomic_open(tmp_path(&td, "b.csv", b, sizeof b), &err);
    ck_assert(fa && fb);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 3);
    ck_assert_int_eq(tempfiles_remove_all(), 2);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 1);
    ck_assert_int_eq(access(other, F_OK), 0);
    atomic_abort(fa); /* their owners may still drop them: nothing left to remove */
    atomic_abort(fb);
    ck_assert_int_eq(tempfiles_remove_all(), 0);
    tmp_remove(&td);
}
END_TEST

/* value i of the big tensor in the save numbered version: exact in float */
static real pattern(int64_t i, int64_t version) { return (real)((i * 31 + version * 7919) % 1000003); }

static int save_version(const char *path, Tensor *big, int64_t version, NnError *err) {
    for (int64_t i = 0; i < big->numel; i++) big->data[i] = pattern(i, version);
    Tensor *v = tensor_full(0, NULL, (real)version);
    char vs[32];
    snprintf(vs, sizeof vs, "%lld", (long long)version);
    const char *names[] = {"big", "version"}, *k[] = {"version"}, *vals[] = {vs};
    const Tensor *ts[] = {big, v};
    int rc = safetensors_write(path, 2, names, ts, 1, k, vals, err);
    tensor_free(v);
    return rc;
}

/* Whether the file at path is one complete save: returns its version, fails the test otherwise. */
static int64_t check_complete(const char *path, int64_t n) {
    NnError err;
    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "after a kill: %s", err.msg);
    const char *vs = safetensors_meta(st, "version");
    ck_assert(vs);
    int64_t version = atoll(vs);
    Tensor *v = safetensors_load(st, "version", &err), *big = tensor_zeros(1, &n);
    ck_assert_msg(v, "%s", err.msg);
    ck_assert(v->data[0] == (real)version);
    ck_assert_msg(safetensors_load_into(st, "big", big, &err) == 0, "%s", err.msg);
    int64_t bad = -1; /* no ck_assert per element: each one writes to Check's log */
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (big->data[i] != pattern(i, version)) bad = i;
    ck_assert_msg(bad < 0, "version %lld element %lld is %g", (long long)version, (long long)bad,
                  bad < 0 ? 0.0 : (double)big->data[bad]);
    tensor_free(v);
    tensor_free(big);
    safetensors_free(st);
    return version;
}

START_TEST(st_atomic_save_survives_sigkill) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    tmp_path(&td, "ckpt.safetensors", path, sizeof path);
    int quick = test_quick();
    int64_t n = quick ? (int64_t)1 << 17 : (int64_t)1 << 20; /* 4 MB of F32, or 0.5 MB under valgrind */
    int rounds = quick ? 6 : 20;
    Tensor *big = tensor_zeros(1, &n);
    NnError err;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(save_version(path, big, 0, &err) == 0, "%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Kill times spread over four saves' worth, so that kills land before the
     * first save completes, inside later saves and between them. */
    double save_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    Rng rng = rng_new(2024, 7);
    int changed = 0, leftovers = 0, r = 0;
    int64_t last = 0;
    /* On a busy machine every save may take longer than the first did, and all
     * kills land before one completes: then up to 3 x rounds more rounds wait
     * four times longer, so that replacement is exercised. */
    for (; r < rounds || (changed == 0 && r < 4 * rounds); r++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) { /* saves new versions until killed */
            for (int64_t v = (int64_t)(r + 1) * 1000;; v++)
                if (save_version(path, big, v, NULL)) _exit(3);
        }
        /* kill it at a random moment: before, during or between saves */
        double ms = (r < rounds ? 4 : 16) * save_ms * rng_uniform(&rng);
        struct timespec ts = {(time_t)(ms / 1e3), (long)(fmod(ms, 1e3) * 1e6)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the saving child exited by itself (%d)",
                      status);
        int64_t version = check_complete(path, n);
        ck_assert(version == last || version >= (int64_t)(r + 1) * 1000);
        changed += version != last;
        last = version;
        int left = tmp_count(&td, ".tmp.");
        if (left > leftovers) leftovers = left;
    }
    printf("test_atomic_file: %d SIGKILLs during saves of %.1f MB (%.0f ms each): the file was complete every time, %d "
           "rounds replaced it, at most %d temporary files left after a kill\n",
           r, (double)n * 4 / 1e6, save_ms, changed, leftovers);
    ck_assert_msg(changed > 0, "no save completed before a kill: the test did not exercise replacement");
    /* A later save works beside what killed saves left (which it does not delete: it cannot know they are not
     * someone else's). */
    int before = tmp_count(&td, ".tmp.");
    ck_assert_msg(save_version(path, big, 1, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), before);
    ck_assert_int_eq(check_complete(path, n), 1);
    tensor_free(big);
    tmp_remove(&td);
}
END_TEST

static Suite *atomic_file_suite(void) {
    Suite *s = suite_create("atomic_file");
    TCase *ta = tcase_create("atomic");
    tcase_set_timeout(ta, 30);
    tcase_add_test(ta, st_atomic_abort_keeps_previous);
    tcase_add_test(ta, st_atomic_never_deletes_what_it_did_not_make);
    tcase_add_test(ta, st_atomic_refuses_links_folders_fifos_devices);
    tcase_add_test(ta, st_atomic_replacement_keeps_the_mode);
    tcase_add_test(ta, st_atomic_full_disk_keeps_old_file);
    tcase_add_test(ta, st_tempfiles_remove_all_removes_open_writes);
    tcase_add_test(ta, st_atomic_save_survives_sigkill);
    suite_add_tcase(s, ta);
    return s;
}

TEST_MAIN(atomic_file_suite)
