/* GRU: a gated recurrent unit as a single step (GruCell, as torch.nn.GRUCell)
 * and as a multi-step, multi-layer layer over (B, T, in) sequences (Gru, as
 * torch.nn.GRU with batch_first=True). Parameter names and the gate order in
 * the stacked weights (r, z, n) are PyTorch's, so state dicts map one to one:
 *   r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * Composed from autograd ops: the gradient is theirs. */
#ifndef NN_NN_GRU_H
#define NN_NN_GRU_H

#include "nn/module.h"

#define GRU_MAX_LAYERS 8

typedef struct {
    Tensor *weight_ih;     /* (3H, in): W_ir, W_iz, W_in stacked */
    Tensor *weight_hh;     /* (3H, H) */
    Tensor *bias_ih;       /* (3H), or NULL without biases */
    Tensor *bias_hh;       /* (3H), or NULL */
    int64_t input, hidden; /* in, H */
} GruCell;

typedef struct {
    GruCell layer[GRU_MAX_LAYERS]; /* layer k reads layer k - 1's outputs */
    int layers;
    real dropout; /* on each layer's outputs but the last, in training mode, as torch */
} Gru;

/* Registers "<name>.weight_ih", "<name>.weight_hh" (and "<name>.bias_ih", "<name>.bias_hh"),
 * initialised U(-1/sqrt(H), 1/sqrt(H)) from m's generator, as PyTorch. */
GruCell gru_cell_new(Module *m, const char *name, int64_t input, int64_t hidden, int bias);
/* One step: x (B, in), h (B, H) or NULL for zeros -> h' (B, H). */
Tensor *gru_cell_forward(const GruCell *c, Graph *g, Tensor *x, Tensor *h);

/* Registers "<name>.weight_ih_l<k>", "<name>.weight_hh_l<k>" (and the biases) for each layer k. */
Gru gru_new(Module *m, const char *name, int64_t input, int64_t hidden, int layers, int bias, real dropout);
/* x (B, T, in) -> the last layer's outputs (B, T, H). h0 (layers, B, H) or NULL for zeros; when h_n is
 * non-NULL it receives every layer's last state (layers, B, H). Dropout draws from m's generator. */
Tensor *gru_forward(const Gru *r, Module *m, Graph *g, Tensor *x, Tensor *h0, Tensor **h_n);

#endif
