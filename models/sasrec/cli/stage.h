/* Writing a model folder as a whole or not at all (sasrec train --out DIR).
 *
 *   1. stage_begin, before any work: DIR must be absent, an empty folder, or
 *      a model folder (its config.json is one this program writes, and it
 *      holds nothing but the files train writes); anything else, a symbolic
 *      link included, is refused, and so is a mount point (a volume: the
 *      swap's rename cannot replace it; --out a folder inside it instead), unless --force, which keeps it whole beside
 *      the new folder as DIR.previous (DIR.previous-2, ...). DIR is locked
 *      (flock on the folder itself, so a killed holder leaves no stale lock):
 *      a second writer is refused, naming the holder's pid. An absent DIR is
 *      made empty to be locked (and removed again on failure). Then a staging
 *      folder ".NAME.sasrec-PID-XXXXXX" is made beside DIR (same file system),
 *      and the run writes every file there.
 *   2. stage_finish, after the final checkpoint: the SHA-256 of items.txt,
 *      users.txt and model.safetensors go into config.json, written last.
 *   3. stage_swap: with the exit-at-once path held off (io/tempfiles.h), the
 *      staging folder and DIR are exchanged in one rename (renameat2
 *      RENAME_EXCHANGE; two renames where the file system lacks it); the
 *      previous folder, now under the staging name, loses the files train
 *      writes (only those: by name) and is removed.
 *   stage_abandon, on any failure or stop: the staging folder goes (only the
 *   file names train writes), DIR stays exactly as it was.
 *
 * A process killed with SIGKILL leaves its staging folder (hidden, beside DIR)
 * and never a half-written DIR; the next run names such leftovers in a note,
 * with the command that resumes the run (train --resume), and leaves them to
 * the user. --resume takes one over by renaming it, after checking that its
 * run is this one and that it holds nothing but the files train writes. */
#ifndef NN_MODELS_SASREC_CLI_STAGE_H
#define NN_MODELS_SASREC_CLI_STAGE_H

#include "models/sasrec/cli/config.h"
#include "models/sasrec/cli/resume.h"

typedef enum {
    STAGE_NEW,   /* DIR was absent: made empty and locked */
    STAGE_EMPTY, /* an empty folder */
    STAGE_MODEL, /* a model folder: replaced */
    STAGE_OTHER, /* something else, with --force: kept whole as DIR.previous */
} StageTarget;

typedef struct {
    char target[4096]; /* DIR, without trailing slashes (resolved when it ends in . or ..) */
    char parent[4096]; /* the folder holding DIR */
    char name[256];    /* DIR's last component */
    char dir[4096];    /* the staging folder, where the run writes */
    StageTarget kind;
    int lock_fd; /* DIR, flock-ed; -1 when not held */
    int listed;  /* the staging folder's id in io/tempfiles.h, -1 after the swap */
    char kept[8192]; /* after the swap: where the previous folder was kept, or "" */
    char resumed[4096]; /* the leftover folder of a killed run that became the staging folder (--resume), or "" */
} Stage;

/* Checks DIR, takes its lock, makes the staging folder. inputs (n of them, NULL entries skipped) are
 * files the run reads: one that is a file of DIR is refused. With resume non-NULL (--resume), the staging
 * folder a killed run of DIR left (the one saved last, when there are several) becomes this run's, renamed,
 * if its identity (cli/resume.h) is resume; one of another identity, or holding a file train does not
 * write, is refused with what differs; without one, a leftover that holds nothing (killed before the run
 * wrote its identity) is taken to start afresh in, or else a new folder is made (s->resumed "" in both).
 * -1 and a message (exit 2) otherwise. */
int stage_begin(Stage *s, const char *target, int force, const char *const *inputs, int n_inputs,
                const ResumeId *resume, NnError *err);
/* Records the checksums of the staged files into c->checksums and writes config.json into the staging folder. */
int stage_finish(Stage *s, RunConfig *c, NnError *err);
/* Puts the staging folder in DIR's place, removes from it the run's identity and resumable state
 * (cli/resume.h), removes the previous folder (or keeps it, see above); unlocks. */
int stage_swap(Stage *s, NnError *err);
/* Removes the staging folder (and DIR if stage_begin made it), unlocks; DIR stays as it was. */
void stage_abandon(Stage *s);
/* Writes a one-line note to stderr for each staging folder of DIR left by a killed run, if any, with the
 * command that resumes it when it holds a run's identity (cli/resume.h). */
void stage_note_leftovers(const Stage *s, const char *cmd);
/* 1 if the folder dir is a mount point (its file system or mount differs from its parent folder's, or it is
 * the root): no rename can replace it, so stage_begin refuses it as --out (exit 2) before the run. */
int stage_is_mount_point(const char *dir);
/* The names of the files train writes into a model folder, NULL-ended. */
extern const char *const STAGE_FILES[];

#endif
