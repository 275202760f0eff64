/* The symbols that tie a program to the library of its precision
 * (tensor/real.h): libnn.a defines the float ones, libnn64.a the double ones. */
#include <stdio.h>
#include <stdlib.h>

#include "tensor/real.h"

const char NN_PRECISION_SYMBOL = 1;

void nn_precision_check__link_only_one_of_libnn_and_libnn64(int caller_real_bytes) {
    if (caller_real_bytes == (int)sizeof(real)) return;
    /* no nn_abort: base/error.c may be the other precision's copy; this file stands alone */
    fprintf(stderr,
            "nn: precision: code compiled with %s (real of %d bytes) calls the %s library (%s, real of %d bytes): "
            "both libnn and libnn64 are linked. Link one: -lnn (pkg-config nn) for float, or -lnn64 "
            "(pkg-config nn64) with -DNN_DOUBLE for double\n",
            caller_real_bytes == 8 ? "-DNN_DOUBLE" : "float headers", caller_real_bytes, REAL_NAME,
            sizeof(real) == 8 ? "libnn64" : "libnn", (int)sizeof(real));
    abort();
}
