/* Progress of a long stage (loading, sample generation, an epoch, an
 * evaluation pass, predict) on stderr: on a terminal one line that updates in
 * place with the rate and the time left; otherwise a plain line every
 * PROGRESS_PLAIN_SECONDS once the stage has run that long, so logs stay
 * short. stdout is never touched.
 *
 * Off until progress_enable(1) (the sasrec program turns it on; library
 * callers and tests stay quiet). */
#ifndef NN_BASE_PROGRESS_H
#define NN_BASE_PROGRESS_H

#include <stdint.h>

#define PROGRESS_TTY_SECONDS   0.25 /* terminal: at most one redraw per this */
#define PROGRESS_PLAIN_SECONDS 10.0 /* otherwise: at most one line per this, the first after it */

typedef struct {
    char what[64];   /* the stage's name, e.g. "epoch 3/200" */
    const char *unit; /* what is counted, e.g. "batches" */
    int64_t total;    /* units in the stage (0: unknown) */
    double started, shown;
    int tty, on, drawn;
} Progress;

/* Turns progress output on or off for the whole process (off by default). */
void progress_enable(int on);
/* Starts a stage of total units (0 when unknown) named what, counting unit. */
void progress_start(Progress *p, const char *what, const char *unit, int64_t total);
/* done units of the stage are done; extra (may be NULL) is shown after the rate, e.g. "loss 0.4312". */
void progress_update(Progress *p, int64_t done, const char *extra);
/* Ends the stage: on a terminal, ends the line the updates drew. */
void progress_end(Progress *p);

#endif
