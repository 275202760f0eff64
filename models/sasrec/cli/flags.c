#include "models/sasrec/cli/flags.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Every enum a choice flag sets is stored as an int's bytes: this holds for the compilers we build with. */
_Static_assert(sizeof(FlagType) == sizeof(int), "enums are int-sized");

static int choice_index(const char *choices, const char *value) {
    int index = 0;
    size_t n = strlen(value);
    for (const char *p = choices; *p; index++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0) return index;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

static int in_range(const Flag *f, double v) {
    if (f->lo_open ? !(v > f->lo) : !(v >= f->lo)) return 0;
    if (f->hi_open ? !(v < f->hi) : !(v <= f->hi)) return 0;
    return 1;
}

/* Integer bounds compared as integers: near 2^63 a double cannot tell neighbouring values apart. */
static int int_in_range(const Flag *f, long long v) { return v >= (long long)f->lo && v <= (long long)f->hi; }

/* The flag's range as "[lo, hi)", with its real bounds. */
static void range_text(const Flag *f, char *buf, size_t size) {
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, f->type == FLAG_INT ? "%.0f" : "%g", f->lo);
    snprintf(hi, sizeof hi, f->type == FLAG_INT ? "%.0f" : "%g", f->hi);
    snprintf(buf, size, "%s%s, %s%s", f->lo_open ? "(" : "[", lo, hi, f->hi_open ? ")" : "]");
}

static int range_error(const char *cmd, const Flag *f, const char *value, NnError *err) {
    char range[80];
    range_text(f, range, sizeof range);
    return nn_fail(err, "%s: %s %s is out of range: expected a value in %s", cmd, f->name, value, range);
}

/* Every double flag is used as a 32-bit float (real): a value that is in range as a double may round out
 * of it (--dropout 0.99999999 becomes 1) or to 0 (--lr 1e-50), and a non-zero value below the smallest
 * normal float loses its precision. */
static int float_error(const char *cmd, const Flag *f, const char *value, double v, NnError *err) {
    float x = (float)v;
    char range[80];
    range_text(f, range, sizeof range);
    if (!in_range(f, (double)x))
        return nn_fail(err, "%s: %s %s is out of range: as a 32-bit float (the type the program computes in) it is "
                            "%.9g; expected a value in %s", cmd, f->name, value, (double)x, range);
    if (v != 0 && !(fabsf(x) >= FLT_MIN))
        return nn_fail(err, "%s: %s %s is out of range: it is not 0 but below the smallest normal 32-bit float "
                            "(%g, the type the program computes in); expected a value in %s, of at least that size "
                            "unless 0", cmd, f->name, value, (double)FLT_MIN, range);
    return 0;
}

static int set_value(const char *cmd, const Flag *f, const char *value, NnError *err) {
    char *end;
    switch (f->type) {
    case FLAG_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end != '\0')
            return nn_fail(err, "%s: %s expects a whole number, got '%s'", cmd, f->name, value);
        if (errno == ERANGE || !int_in_range(f, v)) return range_error(cmd, f, value, err);
        if (f->dest_size == sizeof(int))
            *(int *)f->dest = (int)v; /* in range: every int flag's bounds fit an int */
        else
            *(int64_t *)f->dest = v; /* int64_t, or a uint64_t seed of the same bytes */
        return 0;
    }
    case FLAG_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v))
            return nn_fail(err, "%s: %s expects a finite number, got '%s'", cmd, f->name, value);
        if (!in_range(f, v)) return range_error(cmd, f, value, err);
        if (float_error(cmd, f, value, v, err)) return -1;
        *(double *)f->dest = v;
        return 0;
    }
    case FLAG_STRING:
        if (*value == '\0') return nn_fail(err, "%s: %s expects a non-empty value", cmd, f->name);
        *(const char **)f->dest = value;
        return 0;
    case FLAG_CHOICE:
        if (flags_set_choice(f->dest, f->choices, value))
            return nn_fail(err, "%s: %s must be one of %s, got '%s'", cmd, f->name, f->choices, value);
        return 0;
    case FLAG_SWITCH: return nn_fail(err, "%s: %s takes no value", cmd, f->name);
    }
    return -1;
}

int flags_parse(const char *cmd, int argc, char **argv, Flag *flags, int n, int *help, NnError *err) {
    *help = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = 1;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0)
            return nn_fail(err, "%s: unexpected argument '%s' (flags start with --; see --help)", cmd, arg);
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        int k = 0;
        while (k < n && !(strlen(flags[k].name) == len && strncmp(flags[k].name, arg, len) == 0)) k++;
        if (k == n) return nn_fail(err, "%s: unknown flag '%.*s' (see %s --help)", cmd, (int)len, arg, cmd);
        Flag *f = &flags[k];
        if (f->type == FLAG_SWITCH) {
            if (eq) return nn_fail(err, "%s: %s takes no value", cmd, f->name);
            *(int *)f->dest = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) return nn_fail(err, "%s: %s needs a value", cmd, f->name);
            value = argv[++i];
        }
        if (set_value(cmd, f, value, err)) return -1;
    }
    return 0;
}

const char *flags_choice_name(const char *choices, int index, char *buf, size_t size) {
    const char *p = choices;
    for (int i = 0; i < index && strchr(p, '|'); i++) p = strchr(p, '|') + 1;
    const char *bar = strchr(p, '|');
    snprintf(buf, size, "%.*s", (int)(bar ? bar - p : (long)strlen(p)), p);
    return buf;
}

int flags_set_choice(void *dest, const char *choices, const char *name) {
    int k = choice_index(choices, name);
    if (k < 0) return -1;
    memcpy(dest, &k, sizeof k);
    return 0;
}

int flags_get_choice(const void *dest) {
    int k;
    memcpy(&k, dest, sizeof k);
    return k;
}

void flags_print_help(FILE *f, const char *usage, const Flag *flags, int n) {
    fprintf(f, "%s\n\nFlags:\n", usage);
    for (int k = 0; k < n; k++) {
        const Flag *fl = &flags[k];
        char def[256] = "";
        switch (fl->type) {
        case FLAG_INT:
            snprintf(def, sizeof def, "%lld",
                     fl->dest_size == sizeof(int) ? (long long)*(int *)fl->dest : (long long)*(int64_t *)fl->dest);
            break;
        case FLAG_DOUBLE: snprintf(def, sizeof def, "%g", *(double *)fl->dest); break;
        case FLAG_STRING:
            snprintf(def, sizeof def, "%s", *(const char **)fl->dest ? *(const char **)fl->dest : "");
            break;
        case FLAG_CHOICE: flags_choice_name(fl->choices, flags_get_choice(fl->dest), def, sizeof def); break;
        case FLAG_SWITCH: break;
        }
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", fl->name, fl->type == FLAG_SWITCH ? "" : " ",
                 fl->type == FLAG_CHOICE   ? fl->choices
                 : fl->type == FLAG_SWITCH ? ""
                 : fl->type == FLAG_STRING ? "S"
                                           : "N");
        fprintf(f, "  %-28s %s", left, fl->help);
        if (*def) fprintf(f, " (default %s)", def);
        fputc('\n', f);
    }
}
