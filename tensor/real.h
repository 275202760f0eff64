/* real: the element type of every tensor.
 *
 * The library is compiled twice from the same sources: for float (the default,
 * libnn.a) and, with -DNN_DOUBLE, for double (libnn64.a). The double build
 * exists so that gradient checks can run the shipped forward and backward code
 * with central differences that are accurate to 1e-9 instead of 1e-3. */
#ifndef NN_TENSOR_REAL_H
#define NN_TENSOR_REAL_H

#ifdef NN_DOUBLE
typedef double real;
#define REAL_NAME "f64"
#else
typedef float real;
#define REAL_NAME "f32"
#endif

#endif
