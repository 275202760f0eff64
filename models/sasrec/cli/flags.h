/* Command-line flags: a table per subcommand, parsed and checked before any
 * work starts. A bad flag, a missing value, a non-number or a value out of
 * range gives a one-line message naming the flag, what was given and what is
 * expected. A number is checked as the type it is used as: integers exactly
 * (a seed near 2^63 included), decimals also after rounding to a 32-bit float
 * (a value that rounds out of its range, or a non-zero one that rounds to 0,
 * is refused). */
#ifndef NN_MODELS_SASREC_CLI_FLAGS_H
#define NN_MODELS_SASREC_CLI_FLAGS_H

#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef enum {
    FLAG_INT,    /* an integer of dest_size bytes: int or int64_t (uint64_t for seeds) */
    FLAG_DOUBLE, /* double, finite, in range both as a double and as the float the program computes in */
    FLAG_STRING, /* const char *, non-empty */
    FLAG_CHOICE, /* an enum (int-sized): the index of the value in choices "a|b|c" */
    FLAG_SWITCH, /* int set to 1, takes no value */
} FlagType;

typedef struct {
    const char *name; /* "--hidden" */
    FlagType type;
    void *dest;           /* a member of the settings the flag sets */
    size_t dest_size;     /* FLAG_INT: sizeof *dest */
    const char *choices;  /* FLAG_CHOICE: "sample|full" */
    double lo, hi;        /* numeric range */
    int lo_open, hi_open; /* 1: the bound itself is excluded */
    const char *help;     /* one line; the default is printed after it */
} Flag;

/* Table entries pointing into typed settings; a destination of the wrong type does not compile. */
#define FLAG_INT_SIZE(d) _Generic((d), int *: sizeof(int), int64_t *: sizeof(int64_t), uint64_t *: sizeof(uint64_t))
#define FLAG_ENUM(d)     ((void *)((char *)(d) + 0 * sizeof(char[sizeof *(d) == sizeof(int) ? 1 : -1])))
#define F_INT(n, d, lo, hi, h)                                                                                         \
    (Flag) { n, FLAG_INT, d, FLAG_INT_SIZE(d), NULL, lo, hi, 0, 0, h }
#define F_DBL(n, d, lo, hi, lo_open, hi_open, h)                                                                       \
    (Flag) { n, FLAG_DOUBLE, _Generic((d), double *: d), 0, NULL, lo, hi, lo_open, hi_open, h }
#define F_STR(n, d, h)                                                                                                 \
    (Flag) { n, FLAG_STRING, _Generic((d), const char **: d), 0, NULL, 0, 0, 0, 0, h }
#define F_CHOICE(n, d, choices, h)                                                                                     \
    (Flag) { n, FLAG_CHOICE, FLAG_ENUM(d), 0, choices, 0, 0, 0, 0, h }
#define F_SWITCH(n, d, h)                                                                                              \
    (Flag) { n, FLAG_SWITCH, _Generic((d), int *: d), 0, NULL, 0, 0, 0, 0, h }

/* Parses argv[0..argc) against flags; "--name value" and "--name=value"
 * forms. Sets *help when --help or -h is seen. -1 and a message on error. */
int flags_parse(const char *cmd, int argc, char **argv, Flag *flags, int n, int *help, NnError *err);
/* Prints usage and one line per flag with its current value as the default. */
void flags_print_help(FILE *f, const char *usage, const Flag *flags, int n);
/* The index-th name of choices "a|b|c" (the last one past the end), written into buf. */
const char *flags_choice_name(const char *choices, int index, char *buf, size_t size);
/* Stores into the enum at dest the index of name in choices "a|b|c"; -1 (dest unchanged) when name is not one. */
int flags_set_choice(void *dest, const char *choices, const char *name);
/* The index held by the enum at dest. */
int flags_get_choice(const void *dest);

#endif
