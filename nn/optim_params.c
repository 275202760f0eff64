/* An optimizer's state covers the parameters its module had when it was
 * made; one registered later would be read past the end of that state. */
#include "base/error.h"
#include "nn/optim.h"

void optim_params_check(const char *op, const Module *m, int n_params) {
    NN_CHECK(m->n_params == n_params, op,
             "parameter '%s' was registered after the optimizer was created (it knows the first %d of %d "
             "parameters) and has no optimizer state; build the whole model before creating the optimizer",
             m->params[n_params < m->n_params ? n_params : 0].name, n_params, m->n_params);
}
