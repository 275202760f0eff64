/* Learning-rate schedules: a linear warmup, then constant, linear, cosine or
 * step decay, matching PyTorch's LinearLR, CosineAnnealingLR and StepLR
 * (chained by SequentialLR at the end of the warmup) step for step.
 *
 * A schedule is a pure function of the step number; it drives any optimizer
 * by setting its rate before each step:
 *
 *     LrSchedule s = {.lr = 3e-4, .warmup_steps = 100, .warmup_start = 0.01, .decay = LR_COSINE,
 *                     .decay_steps = 900};
 *     for (int64_t step = 0; step < 1000; step++) {
 *         ... forward, backward ...
 *         adam->cfg.lr = lr_schedule_at(&s, step);    (sgd->cfg.lr for Sgd)
 *         adam_step(adam);
 *     }
 *
 * Unlike CosineAnnealingLR, which rises again after T_max, the cosine and
 * linear decays stay at min_lr once decay_steps have passed. */
#ifndef NN_NN_LR_SCHEDULE_H
#define NN_NN_LR_SCHEDULE_H

#include <stdint.h>

typedef enum {
    LR_CONSTANT, /* lr after the warmup */
    LR_LINEAR,   /* from lr to min_lr over decay_steps (LinearLR) */
    LR_COSINE,   /* min_lr + (lr - min_lr) (1 + cos(pi t / decay_steps)) / 2 (CosineAnnealingLR) */
    LR_STEP,     /* lr * gamma ^ floor(t / step_size) (StepLR) */
} LrDecay;

typedef struct {
    double lr;            /* the base rate */
    int64_t warmup_steps; /* steps of linear warmup (0: none) */
    double warmup_start;  /* the warmup starts at warmup_start * lr (LinearLR's start_factor): in (0, 1] when
                             warmup_steps > 0; 0 (a field left out) is refused, as LinearLR refuses it */
    LrDecay decay;        /* what follows the warmup; t counts steps from its end */
    int64_t decay_steps;  /* LR_LINEAR, LR_COSINE: steps to reach min_lr */
    double min_lr;        /* LR_LINEAR, LR_COSINE: the final rate */
    int64_t step_size;    /* LR_STEP: steps between decays */
    double gamma;         /* LR_STEP: the factor of each decay */
} LrSchedule;

/* The rate for step `step` (0 for the first optimizer step): during the warmup
 * lr (warmup_start + (1 - warmup_start) step / warmup_steps), then the decay. */
double lr_schedule_at(const LrSchedule *s, int64_t step);

#endif
