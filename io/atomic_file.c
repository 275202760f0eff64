/* flock() is BSD, not POSIX: _DEFAULT_SOURCE declares it next to the POSIX set
 * the Makefile asks for. */
#define _DEFAULT_SOURCE
#include "io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct AtomicFile {
    FILE *f;    /* writes to the temporary file */
    char *path; /* the target */
    char *tmp;  /* "<path>.tmp.XXXXXX" */
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

/* Not mkstemp: it creates files with mode 0600, and a checkpoint should get the
 * usual 0666 less umask. O_EXCL gives the same guarantee of a fresh file. */
static int create_tmp(AtomicFile *af, NnError *err) {
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
        int fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            return nn_fail(err, "%s: cannot create a temporary file beside it (%s): %s", af->path, af->tmp,
                           strerror(errno));
        }
        /* Claim the file against the leftover cleanup of other writers (see the
         * header). A cleaner may have locked and removed it between open and
         * flock: then the name is gone and we try another. */
        struct stat a, b;
        if (flock(fd, LOCK_EX) == 0 &&
            (fstat(fd, &a) != 0 || stat(af->tmp, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
            close(fd);
            continue;
        }
        af->f = fdopen(fd, "wb");
        if (!af->f) {
            int e = errno;
            close(fd);
            unlink(af->tmp);
            return nn_fail(err, "%s: cannot open a stream on %s: %s", af->path, af->tmp, strerror(e));
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
    AtomicFile *af = nn_calloc(1, sizeof *af);
    af->path = dup_str(path);
    af->tmp = nn_malloc(n + strlen(TMP_INFIX) + TMP_RANDOM + 1);
    if (create_tmp(af, err)) {
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

void atomic_abort(AtomicFile *af) {
    if (!af) return;
    /* Unlink first, while the lock still keeps cleaners away from the name. */
    unlink(af->tmp);
    fclose(af->f);
    release(af);
}

/* Removes "<base>.tmp.XXXXXX" files in dir that no live writer holds locked. */
static void remove_leftovers(const char *dir, const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t nb = strlen(base), ni = strlen(TMP_INFIX), nd = strlen(dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strlen(name) != nb + ni + TMP_RANDOM || memcmp(name, base, nb) != 0 ||
            memcmp(name + nb, TMP_INFIX, ni) != 0)
            continue;
        if (strspn(name + nb + ni, ALNUM) != TMP_RANDOM) continue;
        char *full = nn_malloc(nd + 1 + strlen(name) + 1);
        sprintf(full, "%s/%s", dir, name);
        /* O_NONBLOCK: a FIFO with such a name must not hang us. */
        int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0) unlink(full);
        if (fd >= 0) close(fd);
        free(full);
    }
    closedir(d);
}

int atomic_commit(AtomicFile *af, NnError *err) {
    NN_CHECK(af, "atomic_commit", "NULL file");
    int fd = fileno(af->f);
    errno = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) {
        int e = errno;
        nn_fail(err, "%s: writing %s failed: %s", af->path, af->tmp, e ? strerror(e) : "write error");
        atomic_abort(af);
        return -1;
    }
    if (fsync(fd) != 0) {
        nn_fail(err, "%s: fsync of %s failed: %s", af->path, af->tmp, strerror(errno));
        atomic_abort(af);
        return -1;
    }
    if (rename(af->tmp, af->path) != 0) {
        nn_fail(err, "%s: cannot rename %s over it: %s", af->path, af->tmp, strerror(errno));
        atomic_abort(af);
        return -1;
    }
    /* The data is durable and in place; closing drops the lock. */
    fclose(af->f);
    char *dir = folder_of(af->path);
    int rc = 0, dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Some file systems cannot fsync a folder (EINVAL); the rename is still done. */
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS))
        rc = nn_fail(err, "%s: written, but syncing its folder %s failed, so the rename may not survive a crash: %s",
                     af->path, dir, strerror(errno));
    if (dfd >= 0) close(dfd);
    remove_leftovers(dir, af->path);
    free(dir);
    release(af);
    return rc;
}
