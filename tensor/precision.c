/* The symbol that ties a program to the library of its precision
 * (tensor/real.h): libnn.a defines the float one, libnn64.a the double one. */
#include "tensor/real.h"

const char NN_PRECISION_SYMBOL = 1;
