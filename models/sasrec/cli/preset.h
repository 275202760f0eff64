/* Presets: named sets of train flags a user types instead of ten
 * (`sasrec train --preset frontier`; docs/sasrec.md, "Choosing a preset").
 * A preset is a list of "--flag=value" strings parsed before the user's own
 * flags, so an explicit flag overrides it wherever it is typed; config.json
 * then records the resolved settings and the preset's name. */
#ifndef NN_MODELS_SASREC_CLI_PRESET_H
#define NN_MODELS_SASREC_CLI_PRESET_H

#include "models/sasrec/cli/config.h"

#define PRESET_MAX_FLAGS 24 /* the most strings one preset holds */

typedef struct {
    const char *name;                      /* what --preset takes */
    const char *about;                     /* one line for --help and the docs */
    const char *flags[PRESET_MAX_FLAGS];   /* "--flag=value" each, NULL after the last */
} Preset;

/* The preset called name, or NULL. */
const Preset *preset_find(const char *name);
/* The names as "a|b|c", for messages and --help. */
const char *preset_names(void);
/* flags_parse with presets: argv is parsed into c (whose flags table, flags[0..n), points into c); when it
 * names a --preset, c goes back to start, the preset's strings are parsed and then argv again, so that
 * every flag typed wins over the preset. An unknown preset is -1 with a message listing the presets. */
int preset_parse(const char *cmd, int argc, char **argv, Flag *flags, int n, RunConfig *c, const RunConfig *start,
                 int *help, NnError *err);
/* The presets and their flags, for --help. */
void preset_print(FILE *f);

#endif
