/* LSTM layer (docs/METHODS.md 7.1): the parameters of one or two directions, named like
 * PyTorch's nn.LSTM, and the quant sites of P1: W_ih and W_hh of each direction, the layer
 * input (shared by both directions) and h_{t-1} before W_hh (one per direction, shared
 * over time steps). The op is nn/lstm.h's op_lstm. */
#ifndef QAT_LAYERS_LSTM_H
#define QAT_LAYERS_LSTM_H

#include "layers/layers.h"
#include "nn/lstm.h"

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

/* x: the packed input [N, in]; the sites applied, then op_lstm (see there for the
 * outputs). */
Tensor *lstm_layer_forward(Graph *g, LstmLayer *l, const LstmPack *p, Tensor *x, Tensor **y);

#endif
