/* curve.svg: the training loss and the validation metric per epoch, drawn
 * as two line charts side by side in plain SVG. */
#ifndef NN_MODELS_SASREC_CURVE_H
#define NN_MODELS_SASREC_CURVE_H

#include "base/error.h"

/* Writes the chart of n epochs (loss[i], metric[i]) to path atomically; best marks the best epoch (-1: none). */
int curve_write_svg(const char *path, int n, const double *loss, const double *metric, const char *metric_name,
                    int best, NnError *err);

#endif
