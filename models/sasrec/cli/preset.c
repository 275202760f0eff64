#include "models/sasrec/cli/preset.h"

#include <string.h>

/* Each preset spells out the settings its numbers depend on, the evaluation protocol included; a setting it
 * does not name keeps its default. */
static const Preset PRESETS[] = {
    {"s3rec", "the seed: S3-Rec's SASRec (BCE, 2 post-LayerNorm blocks, dropout 0.5), sampled evaluation",
     {"--block=sasrec", "--norm=post", "--mask=10000", "--layers=2", "--heads=2", "--hidden=64", "--max-len=50",
      "--ff-mult=4", "--dropout=0.5", "--attn-dropout=0.5", "--loss=bce", "--lr=0.001", "--batch=256",
      "--epochs=200", "--patience=10", "--eval=sample", NULL}},
    {"sasrec-ce", "the seed's model trained with the full softmax (cost grows with the catalogue), full ranking",
     {"--block=sasrec", "--norm=post", "--mask=10000", "--layers=2", "--heads=2", "--hidden=64", "--max-len=50",
      "--ff-mult=4", "--dropout=0.5", "--attn-dropout=0.5", "--loss=ce", "--lr=0.001", "--batch=256",
      "--epochs=200", "--patience=10", "--eval=full", NULL}},
    {"frontier", "our best recipe whose cost does not grow with the catalogue: the seed's model, a sampled softmax over "
                 "768 negatives drawn per sequence, half uniform and half from the batch's targets (log-Q "
                 "corrected), full ranking",
     {"--block=sasrec", "--norm=post", "--mask=10000", "--layers=2", "--heads=2", "--hidden=64", "--max-len=50",
      "--ff-mult=4", "--dropout=0.5", "--attn-dropout=0.5", "--loss=sampled", "--negatives=768",
      "--neg-scope=sequence", "--neg-dist=mixed", "--lr=0.001", "--batch=256", "--epochs=200", "--patience=10",
      "--eval=full", NULL}},
};

/* How many presets there are. */
static int preset_count(void) { return (int)(sizeof PRESETS / sizeof PRESETS[0]); }

const Preset *preset_find(const char *name) {
    for (int i = 0; i < preset_count(); i++)
        if (strcmp(PRESETS[i].name, name) == 0) return &PRESETS[i];
    return NULL;
}

const char *preset_names(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0; i < preset_count(); i++) {
            size_t n = strlen(names);
            snprintf(names + n, sizeof names - n, "%s%s", i ? "|" : "", PRESETS[i].name);
        }
    return names;
}

/* Whether the table has the flag of "--name=value". */
static int table_has(const Flag *flags, int n, const char *arg) {
    size_t len = strcspn(arg, "=");
    for (int k = 0; k < n; k++)
        if (strlen(flags[k].name) == len && strncmp(flags[k].name, arg, len) == 0) return 1;
    return 0;
}

/* The preset's strings into c through the same table; a string the table refuses is a bug of PRESETS. explain
 * profiles one step, so it takes the preset's model and loss and skips the run's flags its table has not
 * (--epochs, --patience, --lr, --eval); train's table has them all. */
static void apply(const char *cmd, const Preset *p, Flag *flags, int n) {
    const char *argv[PRESET_MAX_FLAGS];
    int argc = 0, help;
    for (int k = 0; p->flags[k]; k++)
        if (strcmp(cmd, "explain") != 0 || table_has(flags, n, p->flags[k])) argv[argc++] = p->flags[k];
    NnError err;
    if (flags_parse(cmd, argc, (char **)argv, flags, n, &help, &err) || help)
        nn_abort("preset_parse", "preset %s does not parse as %s's flags: %s", p->name, cmd, err.msg);
}

int preset_parse(const char *cmd, int argc, char **argv, Flag *flags, int n, RunConfig *c, const RunConfig *start,
                 int *help, NnError *err) {
    if (flags_parse(cmd, argc, argv, flags, n, help, err)) return -1;
    if (!c->preset) return 0;
    const Preset *p = preset_find(c->preset);
    if (!p)
        return nn_fail(err, "%s: --preset %s is not a preset: one of %s (see sasrec %s --help)", cmd, c->preset,
                       preset_names(), cmd);
    *c = *start; /* the table points into c: the preset first, then every flag typed over it */
    apply(cmd, p, flags, n);
    return flags_parse(cmd, argc, argv, flags, n, help, err);
}

void preset_print(FILE *f) {
    fprintf(f, "\nPresets (--preset NAME; flags typed beside it win):\n");
    for (int i = 0; i < preset_count(); i++) {
        fprintf(f, "  %-10s %s\n            ", PRESETS[i].name, PRESETS[i].about);
        for (int k = 0; PRESETS[i].flags[k]; k++) fprintf(f, " %s", PRESETS[i].flags[k]);
        fputc('\n', f);
    }
}
