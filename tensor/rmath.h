/* Scalar math on real, shared by kernels and their backward passes. */
#ifndef NN_RMATH_H
#define NN_RMATH_H

#include <math.h>

#include "tensor/real.h"

#ifdef NN_DOUBLE
#define R_EXP exp
#define R_LOG log
#define R_LOG1P log1p
#define R_SQRT sqrt
#define R_TANH tanh
#define R_ERF erf
#define R_POW pow
#define R_FABS fabs
#else
#define R_EXP expf
#define R_LOG logf
#define R_LOG1P log1pf
#define R_SQRT sqrtf
#define R_TANH tanhf
#define R_ERF erff
#define R_POW powf
#define R_FABS fabsf
#endif

#define R_SQRT1_2 ((real)0.70710678118654752440)   /* 1/sqrt(2) */
#define R_INV_SQRT_2PI ((real)0.39894228040143267794) /* 1/sqrt(2 pi) */

/* Logistic sigmoid, stable for large |x|. */
static inline real r_sigmoid(real x) {
    if (x >= 0) return 1 / (1 + R_EXP(-x));
    real e = R_EXP(x);
    return e / (1 + e);
}

/* log(sigmoid(x)) = -softplus(-x), stable for large |x|. */
static inline real r_log_sigmoid(real x) { return x < 0 ? x - R_LOG1P(R_EXP(x)) : -R_LOG1P(R_EXP(-x)); }

/* GELU, exact erf form. */
static inline real r_gelu(real x) { return (real)0.5 * x * (1 + R_ERF(x * R_SQRT1_2)); }

/* d/dx GELU(x) = Phi(x) + x phi(x). */
static inline real r_gelu_grad(real x) {
    return (real)0.5 * (1 + R_ERF(x * R_SQRT1_2)) + x * R_INV_SQRT_2PI * R_EXP((real)-0.5 * x * x);
}

#endif
