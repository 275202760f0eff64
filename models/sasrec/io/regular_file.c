#include "models/sasrec/io/regular_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens name (relative to dirfd, or AT_FDCWD) without blocking and checks it is a regular file of at most
 * max_bytes: the fd, or -1 and a message naming path. */
static int open_checked(int dirfd, const char *name, const char *path, uint64_t max_bytes, uint64_t *size,
                        NnError *err) {
    int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return nn_fail_os(err, errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return nn_fail_os(err, e, "cannot stat %s", path);
    }
    const char *what = S_ISREG(st.st_mode)    ? NULL
                       : S_ISDIR(st.st_mode)  ? "a folder"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                   : "not a regular file";
    if (what) {
        close(fd);
        return nn_fail(err, "%s is %s, expected a regular file", path, what);
    }
    if ((uint64_t)st.st_size > max_bytes || (uint64_t)st.st_size >= SIZE_MAX) {
        close(fd);
        return nn_fail(err, "%s holds %llu bytes, more than the %llu expected of it", path,
                       (unsigned long long)st.st_size, (unsigned long long)max_bytes);
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

int regular_file_size_at(int dirfd, const char *name, const char *path, uint64_t max_bytes, uint64_t *size,
                         NnError *err) {
    int fd = open_checked(dirfd, name, path, max_bytes, size, err);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

int regular_file_read_at(int dirfd, const char *name, const char *path, uint64_t max_bytes, char **data,
                         size_t *len, NnError *err) {
    *data = NULL;
    *len = 0;
    uint64_t size = 0;
    int fd = open_checked(dirfd, name, path, max_bytes, &size, err);
    if (fd < 0) return -1;
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        return nn_fail_resource(err, "%s: out of memory reading its %llu bytes", path, (unsigned long long)size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, (size_t)size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            close(fd);
            free(buf);
            return e ? nn_fail_os(err, e, "cannot read %s", path) : nn_fail(err, "%s shrank while being read", path);
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

int regular_file_sha256_at(int dirfd, const char *name, const char *path, uint64_t max_bytes, Sha256Hex *out,
                           NnError *err) {
    uint64_t size = 0;
    int fd = open_checked(dirfd, name, path, max_bytes, &size, err);
    if (fd < 0) return -1;
    Sha256 h = sha256_new();
    unsigned char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return nn_fail_os(err, e, "cannot read %s", path);
        }
        if (n == 0) break;
        sha256_update(&h, buf, (size_t)n);
    }
    close(fd);
    *out = sha256_hex(&h);
    return 0;
}

int regular_file_read(const char *path, uint64_t max_bytes, char **data, size_t *len, NnError *err) {
    return regular_file_read_at(AT_FDCWD, path, path, max_bytes, data, len, err);
}

int regular_file_size(const char *path, uint64_t max_bytes, uint64_t *size, NnError *err) {
    return regular_file_size_at(AT_FDCWD, path, path, max_bytes, size, err);
}

int regular_file_sha256(const char *path, uint64_t max_bytes, Sha256Hex *out, NnError *err) {
    return regular_file_sha256_at(AT_FDCWD, path, path, max_bytes, out, err);
}
