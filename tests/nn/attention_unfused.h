/* The unfused self-attention the tests hold the fused op against (test-only:
 * not part of the library). */
#ifndef NN_TESTS_NN_ATTENTION_UNFUSED_H
#define NN_TESTS_NN_ATTENTION_UNFUSED_H

#include "nn/attention.h"

/* attention_forward for a dense x (B, L, H) (layout: B sequences of L rows, as
 * seq_layout_dense makes) built from unfused ops (matmul, an explicit
 * additive (B, 1, L, L) mask, softmax, dropout, matmul): a reference for the
 * fused op. */
Tensor *attention_unfused_forward(const Attention *a, Module *m, Graph *g, Tensor *x, const SeqLayout *layout);

#endif
