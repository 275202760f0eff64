/* Command-line flags: a table per subcommand, parsed and checked before any
 * work starts. A bad flag, a missing value, a non-number or a value out of
 * range gives a one-line message naming the flag, what was given and what is
 * expected. */
#ifndef SASREC_FLAGS_H
#define SASREC_FLAGS_H

#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef enum {
    FLAG_INT,    /* int64_t */
    FLAG_DOUBLE, /* double, finite */
    FLAG_STRING, /* const char *, non-empty */
    FLAG_CHOICE, /* int: index into choices "a|b|c" */
    FLAG_SWITCH, /* int set to 1, takes no value */
} FlagType;

typedef struct {
    const char *name; /* "--hidden" */
    FlagType type;
    void *dest;
    const char *choices;  /* FLAG_CHOICE: "sample|full" */
    double lo, hi;        /* numeric range */
    int lo_open, hi_open; /* 1: the bound itself is excluded */
    const char *help;     /* one line; the default is printed after it */
    int given;            /* set by flags_parse: the flag was on the command line */
} Flag;

/* Parses argv[0..argc) against flags; "--name value" and "--name=value"
 * forms. Sets *help when --help or -h is seen. -1 and a message on error. */
int flags_parse(const char *cmd, int argc, char **argv, Flag *flags, int n, int *help, NnError *err);
/* Prints usage and one line per flag with its current value as the default. */
void flags_print_help(FILE *f, const char *usage, const Flag *flags, int n);
/* The index-th name of choices "a|b|c" (the last one past the end), written into buf. */
const char *flags_choice_name(const char *choices, int index, char *buf, size_t size);
/* Whether the flag called name was given on the command line. */
int flags_given(const Flag *flags, int n, const char *name);

#endif
