#include "nn/lr_schedule.h"

#include <math.h>

#include "base/error.h"

#define PI 3.14159265358979323846

double lr_schedule_at(const LrSchedule *s, int64_t step) {
    NN_CHECK(step >= 0 && s->lr >= 0 && s->warmup_steps >= 0, "lr_schedule_at", "step %lld, lr %g, warmup %lld",
             (long long)step, s->lr, (long long)s->warmup_steps);
    NN_CHECK(s->warmup_steps == 0 || (s->warmup_start > 0 && s->warmup_start <= 1), "lr_schedule_at",
             "warmup_start is %g with %lld warmup steps: it must be in (0, 1] (as PyTorch's LinearLR start_factor); "
             "0, the value of a field left out of an initializer, would run the first step at learning rate 0. "
             "Set .warmup_start, e.g. to 1.0 / warmup_steps",
             s->warmup_start, (long long)s->warmup_steps);
    if (step < s->warmup_steps)
        return s->lr * (s->warmup_start + (1 - s->warmup_start) * (double)step / (double)s->warmup_steps);
    int64_t t = step - s->warmup_steps;
    if (s->decay == LR_CONSTANT) return s->lr;
    if (s->decay == LR_STEP) {
        NN_CHECK(s->step_size > 0, "lr_schedule_at", "step decay needs step_size > 0, got %lld",
                 (long long)s->step_size);
        return s->lr * pow(s->gamma, (double)(t / s->step_size));
    }
    NN_CHECK(s->decay == LR_LINEAR || s->decay == LR_COSINE, "lr_schedule_at", "unknown decay %d", (int)s->decay);
    NN_CHECK(s->decay_steps > 0, "lr_schedule_at", "linear and cosine decay need decay_steps > 0, got %lld",
             (long long)s->decay_steps);
    double f = t < s->decay_steps ? (double)t / (double)s->decay_steps : 1; /* then it stays at min_lr */
    if (s->decay == LR_LINEAR) return s->lr + (s->min_lr - s->lr) * f;
    return s->min_lr + (s->lr - s->min_lr) * (1 + cos(PI * f)) / 2;
}
