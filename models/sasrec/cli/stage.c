/* renameat2 (RENAME_EXCHANGE, RENAME_NOREPLACE) and flock are Linux/BSD, not POSIX. */
#define _GNU_SOURCE
#include "models/sasrec/cli/stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "models/sasrec/io/regular_file.h"
#include "io/tempfiles.h"
#include "models/sasrec/data/idmap.h"
#include "models/sasrec/cli/resume.h"
#include "models/sasrec/data/popularity.h"

const char *const STAGE_FILES[] = {CONFIG_FILE,      IDMAP_ITEMS,      IDMAP_USERS,       TRAIN_MODEL_FILE,
                                   TRAIN_LOG_FILE,   TRAIN_CURVE_FILE, POPULARITY_FILE,   TRAIN_RESUME_FILE,
                                   RESUME_ID_FILE,   NULL};

#define STAGE_INFIX ".sasrec-" /* ".NAME.sasrec-PID-XXXXXX" */
#define MAX_FILE    ((uint64_t)64 << 30) /* the largest file checksummed */

static int is_stage_file(const char *name) {
    for (int i = 0; STAGE_FILES[i]; i++)
        if (strcmp(name, STAGE_FILES[i]) == 0) return 1;
    return 0;
}

/* parent/name into buf; -1 if it does not fit. */
static int join(char *buf, size_t size, const char *parent, const char *name) {
    int n = snprintf(buf, size, "%s/%s", parent, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Splits target into parent and name; a target ending in . or .. is resolved first. */
static int split_target(Stage *s, const char *target, NnError *err) {
    size_t n = strlen(target);
    while (n > 1 && target[n - 1] == '/') n--;
    if (n == 0 || n >= sizeof s->target) return nn_fail(err, "train: --out '%s' is not a usable folder path", target);
    memcpy(s->target, target, n);
    s->target[n] = '\0';
    const char *slash = strrchr(s->target, '/'), *base = slash ? slash + 1 : s->target;
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        char real[PATH_MAX];
        if (!realpath(s->target, real)) return nn_fail_os(err, errno, "train: --out %s", target);
        if (strlen(real) >= sizeof s->target) return nn_fail(err, "train: --out %s: path too long", target);
        strcpy(s->target, real);
        slash = strrchr(s->target, '/');
        base = slash + 1;
    }
    if (strcmp(s->target, "/") == 0) return nn_fail(err, "train: --out %s cannot be a model folder", target);
    if (strlen(base) >= sizeof s->name - 40) /* the staging folder's name adds up to 40 bytes to it */
        return nn_fail(err, "train: --out %s: name too long (%zu bytes; a model folder's name may have at most %zu, "
                            "so that the staging folder beside it still fits in a file name)",
                       target, strlen(base), sizeof s->name - 41);
    strcpy(s->name, base);
    if (!slash)
        strcpy(s->parent, ".");
    else if (slash == s->target)
        strcpy(s->parent, "/");
    else {
        memcpy(s->parent, s->target, (size_t)(slash - s->target));
        s->parent[slash - s->target] = '\0';
    }
    return 0;
}

/* mkdir -p of the parent folders. */
static int make_parents(const char *dir) {
    char buf[4096];
    size_t n = strlen(dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        buf[i] = saved;
    }
    return 0;
}

/* The pid in the name of a staging folder of s's target, or 0 if name is not one. */
static long stage_pid(const Stage *s, const char *name) {
    size_t nn = strlen(s->name);
    if (name[0] != '.' || strncmp(name + 1, s->name, nn) != 0 || strncmp(name + 1 + nn, STAGE_INFIX, strlen(STAGE_INFIX)))
        return 0;
    char *end;
    long pid = strtol(name + 1 + nn + strlen(STAGE_INFIX), &end, 10);
    return pid > 0 && *end == '-' && strlen(end) == 7 ? pid : 0;
}

/* The pid of another writer's staging folder of the target, or 0. */
static long holder_pid(const Stage *s) {
    DIR *d = opendir(s->parent);
    long pid = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if ((pid = stage_pid(s, e->d_name)) != 0 && pid != (long)getpid() && kill((pid_t)pid, 0) == 0) break;
        else pid = 0;
    if (d) closedir(d);
    return pid;
}

/* Whether name is a staging folder of s's target left by a killed run (its pid is not ours and not alive). */
static long leftover_pid(const Stage *s, const char *name) {
    long pid = stage_pid(s, name);
    return pid && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 ? pid : 0;
}

void stage_note_leftovers(const Stage *s, const char *cmd) {
    DIR *d = opendir(s->parent);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long pid = leftover_pid(s, e->d_name);
        char path[8192], resume[8192], command[4096];
        ResumeId id;
        NnError err;
        if (!pid || join(path, sizeof path, s->parent, e->d_name)) continue;
        if (resume_id_read(path, &id, &err) == 0) {
            resume_command(&id, command, sizeof command);
            resume_id_free(&id);
            int state = join(resume, sizeof resume, path, TRAIN_RESUME_FILE) == 0 && access(resume, F_OK) == 0;
            fprintf(stderr, "sasrec %s: note: %s is the unfinished folder of a killed run (pid %ld), %s; to continue "
                            "it: %s (or remove the folder when you wish)\n", cmd, path, pid,
                    state ? "stopped after a finished epoch" : "stopped before its first epoch ended", command);
            continue;
        }
        fprintf(stderr, "sasrec %s: note: %s is the unfinished folder of a killed run (pid %ld); remove it when you "
                        "wish\n", cmd, path, pid);
    }
    if (d) closedir(d);
}

/* The time of the last state saved in the leftover folder at path (its identity's if it has no state yet). */
static double saved_at(const char *path) {
    char file[8192];
    struct stat st;
    if ((join(file, sizeof file, path, TRAIN_RESUME_FILE) == 0 && stat(file, &st) == 0) ||
        (join(file, sizeof file, path, RESUME_ID_FILE) == 0 && stat(file, &st) == 0))
        return (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
    return -1;
}

/* A file an atomic write of the killed run left: "<one of STAGE_FILES>.tmp.XXXXXX". */
static int is_stage_temporary(const char *name) {
    for (int i = 0; STAGE_FILES[i]; i++) {
        size_t n = strlen(STAGE_FILES[i]);
        if (strncmp(name, STAGE_FILES[i], n) == 0 && strncmp(name + n, ".tmp.", 5) == 0 && strlen(name + n + 5) == 6)
            return 1;
    }
    return 0;
}

/* Checks that the leftover at path holds only files train writes (first pass), then removes the temporary
 * files of its atomic writes (the killed run's, by their names: the final folder must hold none); -1 and a
 * message naming anything else, with nothing changed. */
static int clean_leftover(const char *path, NnError *err) {
    for (int pass = 0; pass < 2; pass++) {
        DIR *d = opendir(path);
        if (!d) return nn_fail_os(err, errno, "train --resume: %s", path);
        struct dirent *e;
        int rc = 0;
        while (rc == 0 && (e = readdir(d))) {
            char file[8192];
            struct stat st;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            int regular = join(file, sizeof file, path, e->d_name) == 0 && lstat(file, &st) == 0 && S_ISREG(st.st_mode);
            if (!regular || !(is_stage_file(e->d_name) || is_stage_temporary(e->d_name)))
                rc = nn_fail(err, "train --resume: the unfinished folder %s holds %s, which sasrec train does not "
                                  "write; nothing was changed: move it out and try again", path, e->d_name);
            else if (pass == 1 && is_stage_temporary(e->d_name))
                unlink(file);
        }
        closedir(d);
        if (rc) return rc;
    }
    return 0;
}

/* Whether the folder at path holds nothing but temporary files of atomic writes (a run killed before its
 * identity was written: it holds no state and nothing of anyone else's). */
static int holds_nothing(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    int nothing = d != NULL;
    while (nothing && (e = readdir(d)))
        nothing = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || is_stage_temporary(e->d_name);
    if (d) closedir(d);
    return nothing;
}

/* The leftover of target to resume (the one saved last) into from, checked against now; from stays "" when
 * there is none. Failing one with an identity, one that holds nothing (killed before its identity was
 * written) is taken, to start afresh in (*fresh set). -1 and a message when the run of the leftover differs
 * from now or its folder holds foreign files. */
static int find_resumable(const Stage *s, const ResumeId *now, char *from, size_t size, int *fresh, NnError *err) {
    DIR *d = opendir(s->parent);
    struct dirent *e;
    double newest = -1;
    char empty[8192] = "";
    from[0] = '\0';
    while (d && (e = readdir(d))) {
        char path[8192];
        ResumeId id;
        if (!leftover_pid(s, e->d_name) || join(path, sizeof path, s->parent, e->d_name)) continue;
        if (resume_id_read(path, &id, err) != 0) { /* not provably a run we can continue */
            if (!empty[0] && holds_nothing(path)) snprintf(empty, sizeof empty, "%s", path);
            continue;
        }
        resume_id_free(&id);
        double t = saved_at(path);
        if (t > newest && strlen(path) < size) {
            newest = t;
            strcpy(from, path);
        }
    }
    if (d) closedir(d);
    *fresh = !from[0] && empty[0] && strlen(empty) < size;
    if (*fresh) {
        strcpy(from, empty);
        return clean_leftover(from, err);
    }
    if (!from[0]) return 0;
    ResumeId then;
    if (resume_id_read(from, &then, err)) return -1;
    int rc = resume_id_compare(&then, now, err);
    resume_id_free(&then);
    if (rc == 0) rc = clean_leftover(from, err);
    if (rc) {
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used, " (the unfinished folder: %s)", from);
    }
    return rc;
}

/* What the locked folder holds: STAGE_EMPTY, STAGE_MODEL or STAGE_OTHER (with the first foreign entry in what). */
static StageTarget classify(const Stage *s, char *what, size_t size) {
    int fd = openat(s->lock_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0) close(fd);
        snprintf(what, size, "(unreadable)");
        return STAGE_OTHER;
    }
    int entries = 0, config = 0;
    StageTarget kind = STAGE_EMPTY;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        entries++;
        struct stat st;
        int ours = is_stage_file(e->d_name) && fstatat(s->lock_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                   S_ISREG(st.st_mode);
        if (!ours) {
            snprintf(what, size, "%s", e->d_name);
            kind = STAGE_OTHER;
            break;
        }
        config += strcmp(e->d_name, CONFIG_FILE) == 0;
    }
    closedir(d);
    if (kind == STAGE_OTHER || entries == 0) return kind;
    char path[8192], *buf = NULL;
    size_t len;
    if (!config || join(path, sizeof path, s->target, CONFIG_FILE) ||
        regular_file_read(path, CONFIG_MAX_BYTES, &buf, &len, NULL) || !config_recognise(buf, len)) {
        snprintf(what, size, "%s", config ? CONFIG_FILE " (not one sasrec train wrote)" : "no " CONFIG_FILE);
        kind = STAGE_OTHER;
    } else {
        kind = STAGE_MODEL;
    }
    free(buf);
    return kind;
}

int stage_is_mount_point(const char *dir) {
    char parent[4096 + 4];
    if (snprintf(parent, sizeof parent, "%s/..", dir) >= (int)sizeof parent) return 0;
    struct stat st, up;
    if (stat(dir, &st) != 0 || stat(parent, &up) != 0) return 0;
    if (st.st_dev != up.st_dev || st.st_ino == up.st_ino) return 1; /* another file system, or the root */
#ifdef STATX_ATTR_MOUNT_ROOT
    /* a bind mount of a folder of the same file system: the kernel (5.8 on) marks the mount's root */
    struct statx sx;
    if (statx(AT_FDCWD, dir, 0, 0, &sx) == 0 && (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
        (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
        return 1;
#endif
    return 0;
}

/* Opens, locks and checks the target (made empty if absent); 0, or -1 and a message. */
static int lock_target(Stage *s, int force, NnError *err) {
    for (int attempt = 0; attempt < 10; attempt++) {
        struct stat st;
        s->kind = STAGE_EMPTY;
        if (lstat(s->target, &st) != 0) {
            if (errno != ENOENT) return nn_fail_os(err, errno, "train: --out %s", s->target);
            if (make_parents(s->parent) != 0)
                return nn_fail_os(err, errno, "train: --out %s: cannot create the folder %s", s->target, s->parent);
            if (mkdir(s->target, 0777) != 0) {
                if (errno == EEXIST) continue;
                return nn_fail_os(err, errno, "train: --out %s: cannot create the folder", s->target);
            }
            s->kind = STAGE_NEW;
            if (lstat(s->target, &st) != 0) return nn_fail_os(err, errno, "train: --out %s", s->target);
        }
        if (S_ISLNK(st.st_mode))
            return nn_fail(err, "train: --out %s is a symbolic link; sasrec writes no output through a link (give "
                                "the real folder)", s->target);
        if (!S_ISDIR(st.st_mode))
            return nn_fail(err, "train: --out %s exists and is not a folder", s->target);
        int fd = open(s->target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return nn_fail_os(err, errno, "train: --out %s", s->target);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e != EWOULDBLOCK) return nn_fail_os(err, e, "train: --out %s: cannot lock it", s->target);
            long pid = holder_pid(s);
            char who[64] = "another sasrec train";
            if (pid) snprintf(who, sizeof who, "another sasrec train (pid %ld)", pid);
            return nn_fail(err, "train: --out %s is being written by %s; wait for it to end or choose another --out",
                           s->target, who);
        }
        struct stat now;
        if (fstat(fd, &now) != 0 || lstat(s->target, &st) != 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
            close(fd); /* swapped by its previous writer meanwhile: lock what is there now */
            continue;
        }
        s->lock_fd = fd;
        if (s->kind == STAGE_NEW) return 0;
        if (stage_is_mount_point(s->target))
            return nn_fail(err,
                           "train: --out %s is a mount point (a volume or another file system): train puts the new "
                           "model folder in place with one rename, which cannot replace a mount point, so the model "
                           "would be lost after training; give --out a folder inside it (e.g. --out %s/model)",
                           s->target, s->target);
        char what[300] = "";
        s->kind = classify(s, what, sizeof what);
        if (s->kind != STAGE_OTHER || force) return 0;
        return nn_fail(err,
                       "train: --out %s is not empty and is not a model folder (it holds %s); give a new or empty "
                       "folder or a model folder, or add --force to replace it (its contents are then kept whole as "
                       "%s.previous)",
                       s->target, what, s->target);
    }
    return nn_fail(err, "train: --out %s keeps changing under us; try again", s->target);
}

/* Refuses an input that is a file of the target folder (the swap would remove it). */
static int check_inputs(const Stage *s, const char *const *inputs, int n, NnError *err) {
    struct stat target;
    if (fstat(s->lock_fd, &target) != 0) return 0;
    for (int i = 0; i < n; i++) {
        if (!inputs[i]) continue;
        char real[PATH_MAX], *slash;
        if (!realpath(inputs[i], real) || !(slash = strrchr(real, '/'))) continue;
        *slash = '\0';
        struct stat st;
        if (stat(slash == real ? "/" : real, &st) == 0 && st.st_ino == target.st_ino && st.st_dev == target.st_dev)
            return nn_fail(err, "train: %s is inside --out %s, which this run replaces; copy it elsewhere first",
                           inputs[i], s->target);
    }
    return 0;
}

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Makes the staging folder beside the target, with the target's mode when it had one; or, from non-NULL,
 * renames that leftover folder to be it. */
static int make_stage(Stage *s, const char *from, int fresh, NnError *err) {
    static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t seed = (uint64_t)getpid() << 32 ^ (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec * 1000000000u;
    struct stat target;
    int keep_mode = s->kind != STAGE_NEW && fstat(s->lock_fd, &target) == 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        char name[320], rnd[7];
        uint64_t x = splitmix(&seed);
        for (int i = 0; i < 6; i++, x /= 62) rnd[i] = ALNUM[x % 62];
        rnd[6] = '\0';
        snprintf(name, sizeof name, ".%s%s%ld-%s", s->name, STAGE_INFIX, (long)getpid(), rnd);
        if (join(s->dir, sizeof s->dir, s->parent, name)) return nn_fail(err, "train: --out %s: path too long", s->target);
        s->listed = tempfiles_add(s->dir, STAGE_FILES); /* listed first: an exit at once cannot miss it */
        if (from ? renameat2(AT_FDCWD, from, AT_FDCWD, s->dir, RENAME_NOREPLACE) != 0 : mkdir(s->dir, 0777) != 0) {
            int e = errno;
            tempfiles_forget(s->listed);
            s->listed = -1;
            if (e == EEXIST) continue;
            return nn_fail_os(err, e, "train: --out %s: cannot create a staging folder beside it (%s)", s->target,
                              s->dir);
        }
        if (keep_mode && !from) chmod(s->dir, target.st_mode & 07777);
        if (from && !fresh) snprintf(s->resumed, sizeof s->resumed, "%s", from);
        return 0;
    }
    return nn_fail(err, "train: --out %s: cannot create a staging folder beside it: 100 names taken", s->target);
}

static void unlock(Stage *s) {
    if (s->lock_fd >= 0) close(s->lock_fd); /* closing drops the flock */
    s->lock_fd = -1;
}

int stage_begin(Stage *s, const char *target, int force, const char *const *inputs, int n_inputs,
                const ResumeId *resume, NnError *err) {
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
    s->listed = -1;
    char from[4096] = "";
    int fresh = 0;
    if (split_target(s, target, err) || lock_target(s, force, err) || check_inputs(s, inputs, n_inputs, err) ||
        (resume && find_resumable(s, resume, from, sizeof from, &fresh, err)) ||
        make_stage(s, from[0] ? from : NULL, fresh, err)) {
        stage_abandon(s);
        return -1;
    }
    return 0;
}

int stage_finish(Stage *s, RunConfig *c, NnError *err) {
    const char *names[] = {IDMAP_ITEMS, IDMAP_USERS, TRAIN_MODEL_FILE, POPULARITY_FILE};
    Sha256Hex *sums[] = {&c->checksums.items, &c->checksums.users, &c->checksums.model, &c->checksums.popular};
    for (int i = 0; i < 4; i++) {
        char path[8192];
        if (join(path, sizeof path, s->dir, names[i]) || regular_file_sha256(path, MAX_FILE, sums[i], err)) return -1;
    }
    c->checksums.present = c->checksums.has_popular = 1;
    return config_write(s->dir, c, err);
}

/* fsync of a folder, so that renames in it survive a crash (some file systems cannot: ignored). */
static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Renames the folder at from to the first free "<target>.previous[-N]"; its new path into s->kept. */
static int keep_aside(Stage *s, const char *from) {
    for (int k = 1; k < 1000; k++) {
        char to[4096 + 32];
        if (k == 1)
            snprintf(to, sizeof to, "%s.previous", s->target);
        else
            snprintf(to, sizeof to, "%s.previous-%d", s->target, k);
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) {
            snprintf(s->kept, sizeof s->kept, "%s", to);
            return 0;
        }
        if (errno != EEXIST && errno != ENOTEMPTY) return -1;
    }
    return -1;
}

/* Removes the previous folder (now at old) file by file, only the names train writes; keeps it aside if
 * anything else is in it. */
static void retire(Stage *s, const char *old) {
    if (s->kind == STAGE_OTHER) {
        if (keep_aside(s, old) != 0) snprintf(s->kept, sizeof s->kept, "%s", old);
        return;
    }
    for (int i = 0; STAGE_FILES[i]; i++) {
        char path[8192];
        if (join(path, sizeof path, old, STAGE_FILES[i]) == 0) unlink(path);
    }
    if (rmdir(old) != 0 && keep_aside(s, old) != 0) snprintf(s->kept, sizeof s->kept, "%s", old);
}

int stage_swap(Stage *s, NnError *err) {
    sync_dir(s->dir);
    tempfiles_lock(); /* an exit at once waits until the swap and the removal are done */
    int rc = 0;
    if (renameat2(AT_FDCWD, s->dir, AT_FDCWD, s->target, RENAME_EXCHANGE) == 0) {
        tempfiles_forget(s->listed); /* the staging name now holds the previous folder */
        s->listed = -1;
        retire(s, s->dir);
    } else if (errno == EINVAL || errno == ENOSYS) {
        /* no exchange on this file system: the previous folder steps aside, then the new one takes its name */
        char old[4096 + 16];
        snprintf(old, sizeof old, "%s.old", s->dir);
        if (rename(s->target, old) != 0 || rename(s->dir, s->target) != 0) {
            int e = errno;
            rename(old, s->target); /* put it back if it had moved */
            rc = nn_fail_os(err, e, "train: cannot put the new model folder in place of %s", s->target);
        } else {
            tempfiles_forget(s->listed);
            s->listed = -1;
            retire(s, old);
        }
    } else {
        rc = nn_fail_os(err, errno, "train: cannot put the new model folder in place of %s", s->target);
    }
    if (rc == 0) {
        /* the run is over: its identity and state go, only now, so that a kill at any moment before leaves a
         * folder --resume can take over (a kill just here, a model folder with two files more) */
        const char *resume_files[] = {TRAIN_RESUME_FILE, RESUME_ID_FILE};
        for (int i = 0; i < 2; i++) {
            char path[8192];
            if (join(path, sizeof path, s->target, resume_files[i]) == 0) unlink(path);
        }
        sync_dir(s->parent);
    }
    tempfiles_unlock();
    if (rc == 0) unlock(s);
    return rc;
}

void stage_abandon(Stage *s) {
    if (s->listed >= 0) {
        for (int i = 0; STAGE_FILES[i]; i++) {
            char path[8192];
            if (join(path, sizeof path, s->dir, STAGE_FILES[i]) == 0) unlink(path);
        }
        rmdir(s->dir);
        tempfiles_forget(s->listed);
        s->listed = -1;
    }
    if (s->kind == STAGE_NEW && s->lock_fd >= 0) rmdir(s->target); /* made by us, empty unless someone wrote in it */
    unlock(s);
}
