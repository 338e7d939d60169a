/* The LSTM op over packed sequences (docs/METHODS.md 7.1), one or two directions, with an
 * optional quantizer of h_{t-1} inside the recurrence. The layer with its parameters and
 * quant sites is layers/lstm.h.
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

#include "core/graph.h"
#include "core/quantizer.h"
#include "nn/int_ops.h"

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

/* The integer engine's products of one direction (evaluation only): the codes of the
 * packed input (the layer's input site), of W_ih and W_hh, and h_{t-1}'s grid, whose codes
 * the scan takes instead of running the quantizer. */
typedef struct {
    IntCodes x;              /* [N, in], packed order */
    IntWeightCodes wih, whh; /* [4H, in], [4H, H] */
    QuantFunc h;             /* h_{t-1}'s grid, with 8-bit codes (quant_int_grid) */
    IntGrid hg;
} LstmInt;

/* One direction of op_lstm: the (quantized) weights its products read, its biases, and
 * the quantizer of h_{t-1} before W_hh (NULL: none; when given, initialised: see
 * op_lstm_fp_h). integer: products on codes (g->integer; hq must be given). */
typedef struct {
    Tensor *w_ih, *w_hh; /* [4H, in], [4H, H]; gates [i; f; g; o] */
    Tensor *b_ih, *b_hh; /* [4H] */
    Quantizer *hq;
    const LstmInt *integer;
} LstmWeights;

/* x: the packed input [N, in]; w[ndir]: forward, reverse. Returns the final states
 * [B, ndir*H]: per sequence [h_{len-1} of the forward scan ; h_0 of the reverse scan].
 * When y is not NULL, *y gets the packed outputs [N, ndir*H] ([forward ; reverse] state
 * at each step). */
Tensor *op_lstm(Graph *g, const LstmPack *p, Tensor *x, const LstmWeights *w, int ndir, int hidden, Tensor **y);

/* The h_{t-1} that W_hh reads at each step of an FP scan (no h quantizer), into h[d]
 * [N, H] (row r: the scan's row r; 0 at a sequence's first step) for the directions with
 * h[d] != NULL: what an h quantizer initialises from. No gradient. */
void op_lstm_fp_h(Graph *g, const LstmPack *p, Tensor *x, const LstmWeights *w, int ndir, int hidden, float *h[2]);

#endif
