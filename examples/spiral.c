/* A complete program on the nn API: a two-layer network learns to tell the
 * three arms of a spiral apart, and the loss falls.
 *
 *   make && ./build/examples/spiral
 *
 * Out of the source tree, after make install:
 *   cc -O2 spiral.c $(pkg-config --cflags --libs nn) -o spiral
 *
 * It shows the pieces a model of your own needs: a Module that owns named
 * parameters, layers built in it, a Graph per step, a loss, backward, and an
 * optimizer step. */
#include <nn/nn.h>

#include <math.h>
#include <stdio.h>

#define POINTS  300 /* per class */
#define CLASSES 3

/* Points (x, y) on three interleaved spiral arms with a little noise. */
static void make_spiral(real *xy, int64_t *label, Rng *rng) {
    for (int c = 0; c < CLASSES; c++)
        for (int i = 0; i < POINTS; i++) {
            double r = (double)i / POINTS, t = c * 4.0 + 4.0 * r + 0.2 * rng_normal(rng);
            int k = c * POINTS + i;
            xy[2 * k] = (real)(r * sin(t));
            xy[2 * k + 1] = (real)(r * cos(t));
            label[k] = c;
        }
}

int main(void) {
    enum { N = POINTS * CLASSES };
    static real xy[2 * N];
    static int64_t label[N];
    Rng data_rng = rng_new(7, 0);
    make_spiral(xy, label, &data_rng);
    Tensor x = tensor_wrap(xy, NN_SHAPE(N, 2));

    Module m;
    module_init(&m, 42);
    Linear in = linear_new(&m, "in", 2, 64, 1);
    FeedForward hidden = feed_forward_new(&m, "hidden", 64, 128, ACT_RELU);
    Linear out = linear_new(&m, "out", 64, CLASSES, 1);
    module_print(&m, stdout);

    AdamConfig ac = adam_defaults();
    ac.lr = 1e-2;
    Adam *opt = adam_new(&m, ac);
    Graph *g = graph_new();
    for (int step = 0; step <= 300; step++) {
        Tensor *h = ag_relu(g, linear_forward(&in, g, &x));      /* (N, 64) */
        h = ag_add(g, h, feed_forward_forward(&hidden, g, h)); /* residual (N, 64) */
        Tensor *logits = linear_forward(&out, g, h);           /* (N, 3) */
        Tensor *loss = loss_cross_entropy(g, logits, label, N, -1);
        ag_backward(g, loss);
        adam_step(opt);
        module_zero_grad(&m);
        if (step % 50 == 0) {
            int correct = 0;
            for (int k = 0; k < N; k++) {
                const real *row = logits->data + k * CLASSES;
                int best = 0;
                for (int c = 1; c < CLASSES; c++)
                    if (row[c] > row[best]) best = c;
                correct += best == label[k];
            }
            printf("step %3d  loss %.4f  accuracy %.3f\n", step, (double)loss->data[0], (double)correct / N);
        }
        graph_reset(g); /* releases this step's tensors and graph */
    }
    printf("peak graph memory per step: %zu KiB\n", graph_high_water(g) / 1024);
    graph_free(g);
    adam_free(opt);
    module_free(&m);
    return 0;
}
