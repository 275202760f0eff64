/* Scalar math on real, shared by kernels and their backward passes. */
#ifndef NN_TENSOR_RMATH_H
#define NN_TENSOR_RMATH_H

#include <math.h>

#include "tensor/real.h"

#ifdef NN_DOUBLE
#define R_EXP   exp
#define R_LOG   log
#define R_LOG1P log1p
#define R_SQRT  sqrt
#define R_TANH  tanh
#define R_ERF   erf
#define R_POW   pow
#define R_FABS  fabs
#else
#define R_EXP   expf
#define R_LOG   logf
#define R_LOG1P log1pf
#define R_SQRT  sqrtf
#define R_TANH  tanhf
#define R_ERF   erff
#define R_POW   powf
#define R_FABS  fabsf
#endif

#include <stdint.h>
#include <string.h>

/* r_exp and r_erf: in the float build, branch-free versions that the compiler
 * vectorizes (exp: Cephes' polynomial, at most 1 ulp from expf, 0 below
 * -87.3; erf: Abramowitz & Stegun 7.1.26, absolute error below 6e-7). The
 * double build, which gradient checks run on, uses libm. */
#ifdef NN_DOUBLE
static inline real r_exp(real x) { return exp(x); }
static inline real r_erf(real x) { return erf(x); }
#else
static inline float r_exp(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    /* NaN goes to -87.3 here (no undefined conversion below) and is passed through at the end */
    float xc = x > -87.3f ? (x < 89.0f ? x : 89.0f) : -87.3f;
    float n = (xc * log2e + 12582912.0f) - 12582912.0f; /* round to nearest: 1.5 * 2^23; n in [-126, 128] */
    float r = xc - n * ln2_hi - n * ln2_lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^n as two factors 2^(n/2) and 2^(n - n/2), each a normal float: e^88.7 stays finite, past it inf */
    int32_t ni = (int32_t)n, half = ni / 2;
    uint32_t b1 = (uint32_t)(half + 127) << 23, b2 = (uint32_t)(ni - half + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    float y = p * s1 * s2;
    return x < -87.3f ? 0.0f : (x == x ? y : x);
}
static inline float r_erf(float x) {
    float ax = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * ax);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float y = 1.0f - poly * r_exp(-ax * ax);
    return x < 0 ? -y : y;
}
#endif

/* Sum and maximum of x[0..n) in 16 lanes, combined in a fixed order: the
 * compiler vectorizes them (a plain running sum it may not reorder). */
static inline real r_lane_sum(const real *x, int64_t n) {
    real lane[16] = {0}, acc = 0;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) lane[l] += x[j + l];
    for (int l = 0; l < 16; l++) acc += lane[l];
    for (; j < n; j++) acc += x[j];
    return acc;
}

static inline real r_lane_max(const real *x, int64_t n) {
    real m = n > 0 ? x[0] : -INFINITY;
    int64_t j = 0;
    if (n >= 16) {
        real lane[16];
        for (int l = 0; l < 16; l++) lane[l] = x[l];
        for (j = 16; j + 16 <= n; j += 16)
            for (int l = 0; l < 16; l++) lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l];
        for (int l = 0; l < 16; l++) m = lane[l] > m ? lane[l] : m;
    }
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

#define R_SQRT1_2      ((real)0.70710678118654752440) /* 1/sqrt(2) */
#define R_INV_SQRT_2PI ((real)0.39894228040143267794) /* 1/sqrt(2 pi) */

/* Logistic sigmoid, stable for large |x|. */
static inline real r_sigmoid(real x) {
    real e = r_exp(-R_FABS(x)); /* in (0, 1]: no overflow */
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/* log(sigmoid(x)) = -softplus(-x), stable for large |x|. */
static inline real r_log_sigmoid(real x) { return x < 0 ? x - R_LOG1P(R_EXP(x)) : -R_LOG1P(R_EXP(-x)); }

/* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), stable for large
 * |x|: -log sigmoid(x) = softplus(-x). In the float build branch-free (it
 * vectorizes): log1p(u) for u = e^-|x| in (0, 1] by Cephes' logf polynomial,
 * within 2 ulp of log1pf(expf(-|x|)) (tests/tensor/test_tensor.c); the double
 * build uses libm. */
#ifdef NN_DOUBLE
static inline real r_softplus(real x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }
#else
static inline float r_softplus(float x) {
    float u = r_exp(-fabsf(x));
    /* log1p(u) = log(1 + f) + e ln 2: f = u (e = 0) while 1 + u < sqrt 2, else f = (1 + u) / 2 - 1 (e = 1) */
    int big = u > 0.41421356f;
    float f = big ? (u - 1.0f) * 0.5f : u, e = big ? 1.0f : 0.0f, z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float log1p_u = f + (p * f * z - 0.5f * z - 2.12194440e-4f * e) + 0.693359375f * e;
    return (x > 0 ? x : 0.0f) + log1p_u;
}
#endif

/* GELU, exact erf form. */
static inline real r_gelu(real x) { return (real)0.5 * x * (1 + r_erf(x * R_SQRT1_2)); }

/* d/dx GELU(x) = Phi(x) + x phi(x). */
static inline real r_gelu_grad(real x) {
    return (real)0.5 * (1 + r_erf(x * R_SQRT1_2)) + x * R_INV_SQRT_2PI * r_exp((real)-0.5 * x * x);
}

#endif
