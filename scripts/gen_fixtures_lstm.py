#!/usr/bin/python3
"""Reference fixtures for the LSTM op test (tests/unit/test_lstm.c), from PyTorch's
nn.LSTM on packed sequences (pack_padded_sequence, enforce_sorted=True), in float64.

Regenerate (from the repository root; Debian's python3-torch, torch 1.13):

    /usr/bin/python3 scripts/gen_fixtures_lstm.py    # tests/fixtures/lstm_*.bin

Same file format as scripts/gen_fixtures.py (its writer is reused). Each file holds

    x [B, T, D]           padded input (zeros at padded steps), float32 values
    lengths [B]           sorted longest first, uneven, with ties and a length-1 sequence
    layers, hidden, bidirectional
    <p> for every parameter p of nn.LSTM (weight_ih_l0, weight_hh_l0, bias_ih_l0,
        bias_hh_l0, ..._reverse, ..._l1 ...), PyTorch layouts, float32 values
    out [B, T, ndir*H]    pad_packed_sequence of the top layer's output (0 at padding)
    h_n [layers*ndir, B, H]  final states (PyTorch order: layer-major, then direction)
    dout, dh_n            upstream gradients (dout is 0 at padded steps)
    dx [B, T, D]          gradient of loss = sum(out * dout) + sum(h_n * dh_n)
    d<p>                  gradient of every parameter

Files: lstm_bidir2 (2 layers, bidirectional, D 3, H 4, B 4, lengths 5 3 3 1) and
lstm_uni1 (1 layer, one direction, D 5, H 3, B 3, lengths 4 2 1).
"""

import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.dont_write_bytecode = True  # leave scripts/__pycache__ alone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_fixture  # noqa: E402

D64 = torch.float64


def f32(t):
    return t.to(torch.float32).to(D64)


def fixture(D, H, layers, bidirectional, lengths, seed):
    torch.manual_seed(seed)
    B, T = len(lengths), lengths[0]
    lstm = nn.LSTM(D, H, num_layers=layers, bidirectional=bidirectional, batch_first=True).to(D64)
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(f32(p * 1.5))  # a little beyond the default init: gates leave the linear zone
    x = f32(torch.randn(B, T, D, dtype=D64))
    for b, L in enumerate(lengths):
        x[b, L:] = 0.0
    x.requires_grad_(True)
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=True)
    out_p, (h_n, _) = lstm(packed)
    out, _ = pad_packed_sequence(out_p, batch_first=True, total_length=T)
    dout = f32(torch.randn(out.shape, dtype=D64))
    for b, L in enumerate(lengths):
        dout[b, L:] = 0.0
    dh_n = f32(torch.randn(h_n.shape, dtype=D64))
    ((out * dout).sum() + (h_n * dh_n).sum()).backward()
    arrays = [
        ("x", x),
        ("lengths", torch.tensor(lengths, dtype=D64)),
        ("layers", torch.tensor(float(layers))),
        ("hidden", torch.tensor(float(H))),
        ("bidirectional", torch.tensor(1.0 if bidirectional else 0.0)),
    ]
    for name, p in lstm.named_parameters():
        arrays.append((name, p))
    arrays += [("out", out), ("h_n", h_n), ("dout", dout), ("dh_n", dh_n), ("dx", x.grad)]
    for name, p in lstm.named_parameters():
        arrays.append(("d" + name, p.grad))
    return arrays


def main():
    total = 0
    for name, args in [
        ("lstm_bidir2", (3, 4, 2, True, [5, 3, 3, 1], 7)),
        ("lstm_uni1", (5, 3, 1, False, [4, 2, 1], 11)),
    ]:
        path, n = write_fixture(name, fixture(*args))
        total += n
        print("%-36s %7d bytes" % (os.path.relpath(path), n))
    print("total %d bytes" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
