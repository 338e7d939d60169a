/* LSTM layer over packed sequences (METHODS.md 7.1), one or two directions, with the
 * quant sites of P1: W_ih and W_hh of each direction, the layer input (shared by both
 * directions) and h_{t-1} before W_hh (one per direction, shared over time steps).
 *
 * Packing: the sequences of a batch are sorted by length, longest first, and step t of
 * sequence b is row off[t] + b of a packed [N, D] tensor, present only while b is still
 * running (b < bs[t]); N = sum of the lengths. Padded steps are neither stored nor
 * computed, and the active batch shrinks as sequences end. This is PyTorch's
 * PackedSequence layout (pack_padded_sequence with enforce_sorted=True).
 *
 * The work of one layer and direction:
 *   forward:  G = X W_ih^T for all steps as one GEMM (OpenBLAS); then per step t the
 *             product [bs[t], H] x [H, 4H] for W_hh h_{t-1} (nn/packed_gemm.h: W_hh is
 *             packed once per step of training, not once per time step) and the
 *             gate/cell update;
 *   backward: per step (in reverse scan order) the gate gradients dz and the product
 *             [bs[t], 4H] x [4H, H] for dh_{t-1}; then [dW_ih dW_hh] as one GEMM over all
 *             steps (x_t and h_{t-1} are stored side by side), dX as one GEMM, db as a
 *             column sum.
 * The reverse direction scans a time-reversed copy of its input (its own packed
 * order), so both directions run the same code; with two threads or more they run
 * side by side, one thread each. */
#ifndef QAT_NN_LSTM_H
#define QAT_NN_LSTM_H

#include "nn/layers.h"

typedef struct {
    int B, T, N;
    const int *len; /* [B] non-increasing, >= 1 */
    int *bs;        /* [T] sequences running at step t */
    int *off;       /* [T+1] first packed row of step t; off[T] = N */
    int *rev;       /* [N] row (k, b) of the reverse scan -> packed row of step len[b]-1-k */
} LstmPack;

/* Describes a batch with the given lengths (the array must outlive the step), in the
 * graph's arena. Dies when the lengths are not sorted longest first or one is < 1. */
void lstm_pack(Graph *g, LstmPack *p, const int *len, int B);

typedef struct {
    Param *w_ih, *w_hh, *b_ih, *b_hh; /* [4H, in], [4H, H], [4H], [4H]; gates [i; f; g; o] */
    QuantSite wih_q, whh_q;           /* the weights (per-channel rows: 4H) */
    QuantSite h_q;                    /* h_{t-1}, the input of W_hh */
} LstmDirection;

typedef struct {
    int in, hidden, ndir;
    LstmDirection dir[2]; /* forward, reverse */
    QuantSite x_q;        /* the layer input */
} LstmLayer;

/* Parameters named like PyTorch's nn.LSTM: "<name>.weight_ih_l<index>[_reverse]", ...;
 * all four initialised U(-1/sqrt(H), 1/sqrt(H)). */
void lstm_layer_init(LstmLayer *l, LayerBuilder *lb, const char *name, int index, int in, int hidden,
                     int bidirectional);

/* x: the packed input [N, in]. Returns the final states [B, ndir*H]: per sequence
 * [h_{len-1} of the forward scan ; h_0 of the reverse scan]. When y is not NULL, *y gets
 * the packed outputs [N, ndir*H] ([forward ; reverse] state at each step). */
Tensor *lstm_layer_forward(Graph *g, LstmLayer *l, const LstmPack *p, Tensor *x, Tensor **y);

#endif
