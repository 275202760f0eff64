#include "base/parallel.h"

#include "base/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void nn_set_threads(int n) {
    NN_CHECK(n >= 1, "nn_set_threads", "thread count %d, expected >= 1", n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int nn_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
