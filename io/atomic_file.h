/* Atomic file writing: the file at a path is either the old one or the
 * complete new one, never a half-written mix, even if the process is killed
 * or the machine loses power.
 *
 *     AtomicFile *af = atomic_open("run/model.safetensors", &err);
 *     if (!af) return -1;
 *     fprintf(atomic_stream(af), ...);
 *     if (atomic_commit(af, &err)) return -1;   // af is released either way
 *
 * The data goes to a new temporary file "<path>.tmp.XXXXXX" in the target's
 * folder (same file system, so the final rename is atomic), created with
 * O_EXCL so that no existing file is ever opened. atomic_commit flushes it,
 * closes it (checking both: a full disk shows up there), fsyncs it, renames it
 * over the target, then fsyncs the folder so that the rename itself survives
 * a crash. Until the rename, the previous file at the path is untouched. A
 * failed commit removes the temporary file and leaves the old file; only if
 * the last step (the folder fsync) fails is the new file already in place
 * when -1 comes back. atomic_abort drops the new contents instead.
 *
 * The target must be a regular file or absent: a symbolic link, a folder, a
 * FIFO or a device at the path is refused (by atomic_open, and again just
 * before the rename), so that nothing is written through a link or replaces
 * something that is not a plain file. A new file gets mode 0666 less the
 * umask, as fopen would give; a file that is replaced keeps its mode.
 *
 * Temporary files are listed in io/tempfiles.h while they exist, so that an
 * exit at once can remove them. A process killed with SIGKILL leaves its
 * temporary file behind; no later run deletes it (it cannot know that the
 * file is not someone else's). Message errors that come from a lack of disk
 * space set err->resource (base/error.h). */
#ifndef NN_IO_ATOMIC_FILE_H
#define NN_IO_ATOMIC_FILE_H

#include <stdio.h>

#include "base/error.h"

typedef struct AtomicFile AtomicFile;

/* Starts writing a new version of path; NULL and a message naming the path and the problem. */
AtomicFile *atomic_open(const char *path, NnError *err);
/* The stream to write the new contents to (binary; do not fclose it). */
FILE *atomic_stream(AtomicFile *af);
/* Makes the new contents the file at the path, durably; releases af. -1 and a message on failure. */
int atomic_commit(AtomicFile *af, NnError *err);
/* Drops the new contents: removes the temporary file and releases af. NULL is allowed. */
void atomic_abort(AtomicFile *af);
/* The target path af was opened for. */
const char *atomic_path(const AtomicFile *af);
/* 0 if path may be written atomically: absent, or a regular file (not a link, folder, FIFO or device). */
int atomic_check_target(const char *path, NnError *err);

#endif
