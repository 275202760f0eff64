#include "nn/feed_forward.h"

#include "autograd/ops.h"

FeedForward feed_forward_new(Module *m, const char *name, int64_t dim, int64_t inner, Activation act) {
    char sub[256];
    FeedForward f;
    f.fc1 = linear_new(m, module_join(sub, sizeof sub, name, "fc1"), dim, inner, 1);
    f.fc2 = linear_new(m, module_join(sub, sizeof sub, name, "fc2"), inner, dim, 1);
    f.act = act;
    return f;
}

Tensor *feed_forward_forward(const FeedForward *f, Graph *g, Tensor *x) {
    Tensor *h = linear_forward(&f->fc1, g, x); /* (..., inner) */
    h = f->act == ACT_GELU ? ag_gelu(g, h) : ag_relu(g, h);
    return linear_forward(&f->fc2, g, h);
}
