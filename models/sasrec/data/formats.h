/* The five interaction file formats: detection and line parsing (see dataset.h). */
#ifndef NN_MODELS_SASREC_DATA_FORMATS_H
#define NN_MODELS_SASREC_DATA_FORMATS_H

#include <stddef.h>

#include "models/sasrec/data/dataset.h"
#include "models/sasrec/data/interactions.h"
#include "models/sasrec/io/textfile.h"

/* Detects the format of a checked file; why gets what was seen ("line 1 has commas").
 * -1 when the file has no data line. */
int formats_detect(const TextFile *f, DataFormat *out, char *why, size_t why_size, NnError *err);
/* Parses every line of f in format fmt (not FORMAT_AUTO) into in (initialised by the caller). */
int formats_parse(const TextFile *f, DataFormat fmt, const LoadOptions *opt, Interactions *in, NnError *err);

#endif
