/* What the SASRec data suites share: a temporary folder per test (inside
 * one per run, removed after the run whatever failed) and small files written
 * into it. Linked into the tests/sasrec suites (Makefile). */
#ifndef NN_TESTS_SASREC_FIXTURE_H
#define NN_TESTS_SASREC_FIXTURE_H

#include <stddef.h>

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
/* Loads a literal written to a file; fails the test with the message if loading fails. */
void load_ok(const char *name, const char *text, size_t len, const LoadOptions *opt, Dataset *ds);
#define LOAD_OK(name, literal, opt, ds) load_ok(name, literal, sizeof(literal) - 1, opt, ds)

#endif
