/* Optimizers over a Module's parameters, matching torch.optim step for step. */
#ifndef NN_NN_OPTIM_H
#define NN_NN_OPTIM_H

#include "nn/module.h"

/* Settings in double, as torch keeps them: with beta2 = 0.999f, 1 - beta2 would be off by 1.3e-5. */
typedef struct {
    double lr;           /* 1e-3 */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8 */
    double weight_decay; /* 0 */
    int decoupled;       /* 0: Adam (decay added to the gradient); 1: AdamW (decay applied to the weight) */
    int lazy;            /* 1: a parameter whose gradient lists its rows (tensor_set_sparse_grad) updates those
                            rows only, as torch.optim.SparseAdam (no weight decay there, moments of other rows
                            untouched, bias corrections at the parameter's step count); 0: every element */
    unsigned no_decay;   /* parameter kinds exempt from weight_decay, a set of OPTIM_KIND(kind) bits; 0: every
                            parameter decays. OPTIM_NO_DECAY_USUAL is the usual AdamW grouping (torch: two
                            param_groups, weight_decay 0 for biases, LayerNorm gains and embedding tables) */
} AdamConfig;

/* The bit of a ParamKind in AdamConfig.no_decay. */
#define OPTIM_KIND(kind) (1u << (unsigned)(kind))
/* Decay on weights (PARAM_WEIGHT) only: biases, gains and embedding tables are left alone. */
#define OPTIM_NO_DECAY_USUAL (OPTIM_KIND(PARAM_BIAS) | OPTIM_KIND(PARAM_GAIN) | OPTIM_KIND(PARAM_TABLE))

typedef struct {
    Module *module;
    int n_params; /* the module's parameters when the optimizer was made: its state covers these */
    AdamConfig cfg;
    int64_t step;     /* steps taken */
    int64_t *skipped; /* per parameter: steps it had no gradient; its own step count, as torch's
                         state["step"], is step - skipped */
    Tensor **m;       /* first moments, one per parameter, same shapes */
    Tensor **v;       /* second moments */
} Adam;

typedef struct {
    real lr, momentum, dampening, weight_decay;
    int nesterov;
} SgdConfig;

typedef struct {
    Module *module;
    int n_params; /* the module's parameters when the optimizer was made */
    SgdConfig cfg;
    Tensor **buf; /* momentum buffers, NULL until the first step */
} Sgd;

/* torch.optim.Adam's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay, not lazy. AdamW is
 * these with .decoupled = 1 and a weight_decay (torch.optim.AdamW's default is 0.01), usually with
 * .no_decay = OPTIM_NO_DECAY_USUAL. */
AdamConfig adam_defaults(void);
/* Adam (or AdamW) over every parameter of m; moments start at zero. Parameters registered in m
 * afterwards are refused by adam_step with a message naming them. */
Adam *adam_new(Module *m, AdamConfig cfg);
/* One update from the parameters' current gradients; a parameter without a gradient is
 * skipped and its step count does not advance, as in torch. With cfg.lazy, a parameter
 * whose gradient lists its rows updates only those (SparseAdam); one whose every row
 * may be non-zero takes Adam's update. */
void adam_step(Adam *a);
/* adam_step, then every parameter's gradient zeroed (module_zero_grad of the
 * module): the same values, with each row lazy Adam updates zeroed while it is
 * in cache instead of by a second pass over a large table. */
void adam_step_zero_grad(Adam *a);
/* Frees the moments. NULL is allowed. */
void adam_free(Adam *a);

/* SGD with optional momentum, dampening, Nesterov and weight decay, as torch.optim.SGD, over the
 * parameters m has now (later ones are refused by sgd_step, as by adam_step). */
Sgd *sgd_new(Module *m, SgdConfig cfg);
/* One update. */
void sgd_step(Sgd *s);
/* Frees the buffers. NULL is allowed. */
void sgd_free(Sgd *s);

/* Aborts, naming the first parameter m registered after an optimizer over its first n_params was
 * made (op names the caller): that parameter has no optimizer state. Build the whole model first. */
void optim_params_check(const char *op, const Module *m, int n_params);

/* Scales all gradients so their global L2 norm is at most max_norm, as
 * torch.nn.utils.clip_grad_norm_; returns the norm before clipping. */
double clip_grad_norm(Module *m, double max_norm);

#endif
