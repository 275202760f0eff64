/* real: the element type of every tensor.
 *
 * The library is compiled twice from the same sources: for float (the default,
 * libnn.a) and, with -DNN_DOUBLE, for double (libnn64.a). The double build
 * exists so that gradient checks can run the shipped forward and backward code
 * with central differences that are accurate to 1e-9 instead of 1e-3.
 *
 * A program must be compiled with the same setting as the library it links:
 * float headers with a double library (or the reverse) would pass every
 * tensor with the wrong element size. Every file that includes this header
 * therefore refers to a symbol that only the matching library defines, named
 * so that the linker's "undefined reference" says what to do, and checks at
 * start-up that the library it calls is of its precision (both linked). */
#ifndef NN_TENSOR_REAL_H
#define NN_TENSOR_REAL_H

#ifdef NN_DOUBLE
typedef double real;
#define REAL_NAME           "f64"
#define NN_PRECISION_SYMBOL nn_compiled_with_NN_DOUBLE__so_link_libnn64__pkg_config_nn64
#else
typedef float real;
#define REAL_NAME           "f32"
#define NN_PRECISION_SYMBOL nn_compiled_without_NN_DOUBLE__so_link_libnn__pkg_config_nn
#endif

/* Defined by tensor/precision.c in the library of the same precision only. */
extern const char NN_PRECISION_SYMBOL;
/* Kept by the compiler even when unused, so the reference reaches the linker. */
__attribute__((used)) static const char *const nn_precision_guard = &NN_PRECISION_SYMBOL;

/* The symbol above cannot see a program that links both libraries (-lnn -lnn64, as
 * `pkg-config --libs nn nn64` gives): each finds its own, and calls go to whichever library
 * the linker meets first. So each library also defines this function, under the same name,
 * comparing the caller's sizeof(real) with its own: with static libraries both definitions
 * are pulled in and the link fails ("multiple definition", the name says what to do); with
 * shared ones the check below, run before main, aborts with a message. */
void nn_precision_check__link_only_one_of_libnn_and_libnn64(int caller_real_bytes);
__attribute__((constructor, used)) static void nn_precision_check_at_start(void) {
    nn_precision_check__link_only_one_of_libnn_and_libnn64((int)sizeof(real));
}

#endif
