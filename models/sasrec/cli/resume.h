/* What a run is, for sasrec train --resume: the flags as given and the
 * SHA-256 of its input files, written once into the staging folder
 * (RESUME_ID_FILE) when the run begins. A resumed run must have the same
 * identity: the same flags (--threads, --force and --out aside: the results do
 * not depend on the first two, and the folder is found by the third) and
 * files of the same content under --data and --sample-file. The identity also
 * gives back the command that resumes the run, for the note on a folder a
 * killed run left. */
#ifndef NN_MODELS_SASREC_CLI_RESUME_H
#define NN_MODELS_SASREC_CLI_RESUME_H

#include "models/sasrec/cli/config.h"

#define RESUME_ID_FILE "resume.txt" /* in the staging folder: the run's identity */
#define RESUME_FLAG    "--resume"

typedef struct {
    char data[72];    /* SHA-256 of --data's bytes, or "built-in" */
    char samples[72]; /* SHA-256 of --sample-file's bytes, or "none" */
    int shards;       /* --shards as run: its default differs between builds with and without MPI */
    int argc;         /* train's flags as given (without --resume), owned */
    char **argv;
} ResumeId;

/* Takes --resume out of args (n of them, *n updated); 1 if it was there. A "--resume" that is the value of
 * another flag stays. */
int resume_take_flag(int *n, char **args);
/* The identity of this run: c's input files hashed, args (n) copied. -1 and a message if a file cannot be read. */
int resume_id_make(ResumeId *id, const RunConfig *c, int n, char *const *args, NnError *err);
/* Writes id as dir/RESUME_ID_FILE atomically. */
int resume_id_write(const char *dir, const ResumeId *id, NnError *err);
/* Reads dir/RESUME_ID_FILE; -1 and a message if it is absent or not one this program wrote. */
int resume_id_read(const char *dir, ResumeId *id, NnError *err);
/* 0 if now may resume then; else -1 and a message (err) saying each flag and file that differs. */
int resume_id_compare(const ResumeId *then, const ResumeId *now, NnError *err);
/* The shell command that resumes the run of id ("sasrec train ... --resume", quoted where needed), into buf. */
void resume_command(const ResumeId *id, char *buf, size_t size);
/* Frees what resume_id_make or resume_id_read made. */
void resume_id_free(ResumeId *id);

#endif
