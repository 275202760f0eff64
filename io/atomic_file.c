#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/memory.h"
#include "io/tempfiles.h"

struct AtomicFile {
    FILE *f;    /* writes to the temporary file */
    char *path; /* the target */
    char *tmp;  /* "<path>.tmp.XXXXXX" */
    int listed; /* the temporary file's id in io/tempfiles.h */
};

#define TMP_INFIX  ".tmp."
#define TMP_RANDOM 6 /* characters after the infix */

static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(nn_malloc(n), s, n);
}

/* The folder holding path ("." if none), as a new string. */
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return dup_str(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = nn_malloc(n + 1);
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* What is at path, for a refusal: 0 and *mode when absent (mode 0) or a regular file. */
static int target_kind(const char *path, mode_t *mode, NnError *err) {
    struct stat st;
    *mode = 0;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return nn_fail_os(err, errno, "%s: cannot look at it", path);
    }
    if (S_ISREG(st.st_mode)) {
        *mode = st.st_mode & 07777;
        return 0;
    }
    const char *what = S_ISLNK(st.st_mode)   ? "a symbolic link (sasrec writes no file through a link; give the real path)"
                       : S_ISDIR(st.st_mode) ? "a folder, expected a file path"
                       : S_ISFIFO(st.st_mode) ? "a FIFO, expected a regular file"
                                             : "a device or socket, expected a regular file";
    return nn_fail(err, "%s is %s", path, what);
}

int atomic_check_target(const char *path, NnError *err) {
    mode_t mode;
    return target_kind(path, &mode, err);
}

/* Not mkstemp: it creates files with mode 0600, and a checkpoint should get the
 * usual 0666 less umask (or the mode of the file it replaces). O_EXCL gives
 * the same guarantee of a fresh file and never follows a link. */
static int create_tmp(AtomicFile *af, mode_t keep_mode, NnError *err) {
    size_t n = strlen(af->path);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t seed =
        (uint64_t)getpid() << 32 ^ (uint64_t)ts.tv_sec * 1000000000u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)af;
    memcpy(af->tmp, af->path, n);
    memcpy(af->tmp + n, TMP_INFIX, strlen(TMP_INFIX));
    char *r = af->tmp + n + strlen(TMP_INFIX);
    r[TMP_RANDOM] = '\0';
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t x = splitmix(&seed);
        for (int i = 0; i < TMP_RANDOM; i++, x /= 62) r[i] = ALNUM[x % 62];
        /* listed before it exists, so that an exit at once between the two cannot miss it */
        af->listed = tempfiles_add(af->tmp, NULL);
        int fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0) {
            int e = errno;
            tempfiles_forget(af->listed);
            if (e == EEXIST) continue;
            return nn_fail_os(err, e, "%s: cannot create a temporary file beside it (%s)", af->path, af->tmp);
        }
        if (keep_mode && fchmod(fd, keep_mode) != 0) { /* the replaced file's mode, not the umask's */
            int e = errno;
            close(fd);
            unlink(af->tmp);
            tempfiles_forget(af->listed);
            return nn_fail_os(err, e, "%s: cannot give %s the mode of the file it replaces", af->path, af->tmp);
        }
        af->f = fdopen(fd, "wb");
        if (!af->f) {
            int e = errno;
            close(fd);
            unlink(af->tmp);
            tempfiles_forget(af->listed);
            return nn_fail_os(err, e, "%s: cannot open a stream on %s", af->path, af->tmp);
        }
        return 0;
    }
    return nn_fail(err, "%s: cannot create a temporary file beside it: 100 names taken", af->path);
}

AtomicFile *atomic_open(const char *path, NnError *err) {
    NN_CHECK(path, "atomic_open", "NULL path");
    size_t n = strlen(path);
    if (n == 0 || path[n - 1] == '/') {
        nn_fail(err, "'%s': not a file path", path);
        return NULL;
    }
    mode_t mode;
    if (target_kind(path, &mode, err)) return NULL;
    AtomicFile *af = nn_calloc(1, sizeof *af);
    af->path = dup_str(path);
    af->tmp = nn_malloc(n + strlen(TMP_INFIX) + TMP_RANDOM + 1);
    if (create_tmp(af, mode, err)) {
        free(af->path);
        free(af->tmp);
        free(af);
        return NULL;
    }
    return af;
}

FILE *atomic_stream(AtomicFile *af) { return af->f; }

const char *atomic_path(const AtomicFile *af) { return af->path; }

static void release(AtomicFile *af) {
    free(af->path);
    free(af->tmp);
    free(af);
}

/* Removes the temporary file (if f is still open, closes it too) and releases af. */
static void drop(AtomicFile *af) {
    if (af->f) fclose(af->f);
    unlink(af->tmp);
    tempfiles_forget(af->listed);
    release(af);
}

void atomic_abort(AtomicFile *af) {
    if (af) drop(af);
}

int atomic_commit(AtomicFile *af, NnError *err) {
    NN_CHECK(af, "atomic_commit", "NULL file");
    int fd = fileno(af->f);
    errno = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) {
        int e = errno ? errno : EIO;
        nn_fail_os(err, e, "%s: writing %s failed", af->path, af->tmp);
        drop(af);
        return -1;
    }
    if (fsync(fd) != 0) {
        nn_fail_os(err, errno, "%s: fsync of %s failed", af->path, af->tmp);
        drop(af);
        return -1;
    }
    FILE *f = af->f;
    af->f = NULL;
    if (fclose(f) != 0) { /* some file systems report a full disk only here */
        nn_fail_os(err, errno, "%s: closing %s failed", af->path, af->tmp);
        drop(af);
        return -1;
    }
    mode_t mode;
    if (target_kind(af->path, &mode, err)) { /* it became a link or a folder meanwhile */
        drop(af);
        return -1;
    }
    if (rename(af->tmp, af->path) != 0) {
        nn_fail_os(err, errno, "%s: cannot rename %s over it", af->path, af->tmp);
        drop(af);
        return -1;
    }
    tempfiles_forget(af->listed);
    char *dir = folder_of(af->path);
    int rc = 0, dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Some file systems cannot fsync a folder (EINVAL); the rename is still done. */
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS))
        rc = nn_fail_os(err, errno, "%s: written, but syncing its folder %s failed, so the rename may not survive a crash",
                        af->path, dir);
    if (dfd >= 0) close(dfd);
    free(dir);
    release(af);
    return rc;
}
