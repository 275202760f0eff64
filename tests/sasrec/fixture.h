/* What the SASRec data suites share: a temporary folder per test (inside
 * one per run, removed after the run whatever failed) and small files written
 * into it. Linked into the tests/sasrec suites (Makefile). */
#ifndef NN_TESTS_SASREC_FIXTURE_H
#define NN_TESTS_SASREC_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#include "models/sasrec/data/dataset.h"
#include "tests/support.h"

extern char fixture_dir[96]; /* the current test's folder */

/* A test case whose tests each get a fresh fixture_dir. */
TCase *fixture_tcase(const char *name);
/* Writes a file into fixture_dir; returns its path (valid until the 8th next call). */
const char *put(const char *name, const char *text, size_t len);
#define PUT(name, literal) put(name, literal, sizeof(literal) - 1)
/* The file at path into buf (at most size - 1 bytes, NUL-terminated; empty if it cannot be read). */
void slurp(const char *path, char *buf, size_t size);
/* fixture_dir/name, in a rotating buffer (valid until the 8th next call). */
const char *fixture_path(const char *name);
/* The program the command-line tests run: $NN_SASREC, or ./sasrec. */
const char *fixture_program(void);
/* args with each {} replaced by fixture_dir, into expanded (size bytes). */
void fixture_expand(const char *args, char *expanded, size_t size);
/* Runs "<prefix> <program> <args>" through /bin/sh ({} in args: fixture_dir); its stdout and stderr into out and
 * err (NUL-terminated, cut to their sizes). Returns the exit code, or 128 + the signal that killed it. */
int fixture_run(const char *prefix, const char *args, char *out, size_t out_size, char *err, size_t err_size);
/* Starts "$NN_SASREC <args>" ({} expanded) in the background, its stdout and stderr into the fixture's
 * .bg_stdout and .bg_stderr; its pid (the program's: the shell execs it), Check's signal handlers reset. */
pid_t fixture_spawn(const char *args);
/* Waits for a fixture_spawn'ed pid: its exit code (128 + the signal that killed it); its stdout into out (when
 * out is not NULL) and its stderr into err. */
int fixture_wait(pid_t pid, char *out, size_t out_size, char *err, size_t err_size);
/* Writes text to path (a full path); fails the test if it cannot. */
void fixture_write_text(const char *path, const char *text);
/* fixture_dir/tiny.csv: 60 users of 8 items each over 150 items, with a header and times (user,item,time). */
void fixture_tiny_csv(void);
/* fixture_dir/tiny.txt: the same 60 users and items in seq format (user item item ...). */
void fixture_tiny_seq(void);
/* Replaces the first "key": value in fixture_dir/name/config.json by "key": value. */
void fixture_set_config(const char *name, const char *key, const char *value);
/* How many entries of fixture_dir begin with prefix. */
int fixture_count_entries(const char *prefix);
/* Loads a literal written to a file; fails the test with the message if loading fails. */
void load_ok(const char *name, const char *text, size_t len, const LoadOptions *opt, Dataset *ds);
#define LOAD_OK(name, literal, opt, ds) load_ok(name, literal, sizeof(literal) - 1, opt, ds)

#endif
