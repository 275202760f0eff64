/* Dropout's mask (autograd/op_dropout.c), whichever path makes it (AVX-512 lanes in groups of 64 elements,
 * philox4x32_blocks for the rest): element i is kept when the top 24 bits of word i % 4 of Philox block
 * i / 4 of the call's stream reach p 2^24, as the reference below computes it one block at a time; the
 * output is x / (1 - p) there and 0 elsewhere, the gradient likewise, for any thread count. */
#include <string.h>

#include "base/parallel.h"
#include "tests/support.h"

/* Sizes around every seam: groups of 64, pieces of 256, chunks of 4096, the parallel threshold. */
static const int64_t sizes[] = {1, 3, 4, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300, 4095, 4096, 4097, 40000, 70001};

static void check_size(int64_t n, real p, uint64_t seed) {
    Tensor *x = test_param(test_randn(seed, NN_SHAPE(n))), *dy = test_randn(seed + 1, NN_SHAPE(n));
    Rng rng = rng_new(seed, 7), copy = rng;
    uint64_t stream = rng_u64(&copy); /* the stream ag_dropout takes */
    uint32_t threshold = (uint32_t)((double)p * 16777216.0);
    real scale = 1 / (1 - p);
    Graph *g = graph_new();
    Tensor *y = ag_dropout(g, x, p, 1, &rng);
    ag_backward_with(g, y, dy);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t w[4];
        philox4x32(seed, stream, (uint64_t)(i / 4), w);
        int keep = (w[i % 4] >> 8) >= threshold;
        real want = keep ? x->data[i] * scale : 0, dwant = keep ? dy->data[i] * scale : 0;
        kept += keep;
        ck_assert_msg(memcmp(&y->data[i], &want, sizeof want) == 0 && memcmp(&x->grad->data[i], &dwant, sizeof dwant) == 0,
                      "n %lld, p %g, element %lld: y %.9g (want %.9g), dx %.9g (want %.9g)", (long long)n, (double)p,
                      (long long)i, (double)y->data[i], (double)want, (double)x->grad->data[i], (double)dwant);
    }
    if (n >= 4096) /* the mask is not degenerate */
        ck_assert(kept > (int64_t)(0.8 * (1 - p) * (double)n) && kept < (int64_t)(1.2 * (1 - p) * (double)n) + 1);
    graph_free(g);
    test_free_all(2, (Tensor *[]){x, dy});
}

START_TEST(dropout_mask_is_philox_word_by_word) {
    int saved = nn_threads();
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_threads(threads);
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            check_size(sizes[k], (real)0.5, 11 + k);
            check_size(sizes[k], (real)0.1, 101 + k);
            check_size(sizes[k], (real)0.9, 1001 + k);
        }
    }
    nn_set_threads(saved);
}
END_TEST

static Suite *dropout_mask_suite(void) {
    Suite *s = suite_create("dropout_mask");
    TCase *tc = tcase_create("mask");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dropout_mask_is_philox_word_by_word);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(dropout_mask_suite)
