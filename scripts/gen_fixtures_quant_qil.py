#!/usr/bin/python3
"""Reference fixtures for the QIL quantizer test (tests/unit/test_quant_qil.c), made with
PyTorch autograd from an independent float64 implementation of docs/METHODS.md 5.2/5.3.

Regenerate (from the repository root; Debian's python3-torch, torch 1.13):

    /usr/bin/python3 scripts/gen_fixtures_quant_qil.py   # tests/fixtures/quant_qil_b{2,4,8}.bin

Same file format as scripts/gen_fixtures.py (its writer is reused). One file per bit width
b = 2, 4, 8, each holding six cases; case <k> has the arrays

    <k>_x, <k>_dy              input (float32 values) and upstream gradient
    <k>_c, <k>_d, <k>_gamma    quantizer parameters (gamma = 1 for activations)
    <k>_signed, <k>_weight, <k>_rescale, <k>_bits   flags (0/1) and bit width
    <k>_y                      forward output
    <k>_dx, <k>_dc, <k>_dd, <k>_dgamma   gradients of loss = sum(y * dy)

Cases: w (weights, rescale, gamma 0.75, pruning + clipping), wg (weights, rescale,
gamma 1.3, c = d), wp (weights, paper form S = 1, gamma 0.8), a (unsigned activation,
rescale, some negative inputs pruned), ap (unsigned activation, paper form, interval
reaching below 0), s (signed activation, rescale).

Inputs avoid everything where float32 (C) and float64 (here) could disagree: exact zeros
of signed inputs, the region boundaries c - d and c + d, and rounding ties of T*q. The
output is byte-for-byte deterministic (fixed seed).
"""

import math
import os
import sys

import torch

sys.dont_write_bytecode = True  # leave scripts/__pycache__ alone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_fixture  # noqa: E402

D = torch.float64
N = 80  # elements per case (six cases per file: 480)
MARGIN = 2e-3


def f32(v):
    return float(torch.tensor(v, dtype=torch.float32))


def qil_torch(x, c, d, gamma, bits, signed, rescale):
    """Y = sign * S * D(T): x, c, d, gamma float64 tensors (autograd), STE on the round."""
    q = 2.0 ** (bits - 1) - 1.0 if signed else 2.0 ** bits - 1.0
    if signed:
        s = torch.sign(x)
        a = torch.abs(x)
    else:
        s = torch.ones_like(x)
        a = x
    lo, hi = c - d, c + d
    inside = (a >= lo) & (a <= hi)
    alpha = 0.5 / d
    beta = -0.5 * c / d + 0.5
    u = alpha * a + beta
    u_in = torch.where(inside, u, torch.ones_like(u))  # no gradient from the other regions
    t_in = u_in ** gamma
    const = torch.where(a > hi, torch.ones_like(u), torch.zeros_like(u))
    t = torch.where(inside, t_in, const)
    tq = t * q
    r = tq + (torch.round(tq) - tq).detach()  # STE on the round
    S = (c + d) if rescale else torch.ones((), dtype=D)
    return s * S * r / q


def acceptable(v, c, d, gamma, bits, signed):
    """False where float32 and float64 could fall on different sides of a boundary/tie."""
    q = 2.0 ** (bits - 1) - 1.0 if signed else 2.0 ** bits - 1.0
    if signed and abs(v) < MARGIN:
        return False
    a = abs(v) if signed else v
    lo, hi = c - d, c + d
    if abs(a - lo) < MARGIN or abs(a - hi) < MARGIN:
        return False
    if lo <= a <= hi:
        u = 0.5 / d * a + (-0.5 * c / d + 0.5)
        tq = (u ** gamma) * q
        if abs(tq - math.floor(tq) - 0.5) < MARGIN:  # a rounding tie of T*q
            return False
    return True


def draw(n, mean, std, c, d, gamma, bits, signed):
    out = []
    while len(out) < n:
        v = f32(float(torch.randn(()) * std + mean))
        if acceptable(v, c, d, gamma, bits, signed):
            out.append(v)
    return torch.tensor(out, dtype=D)


# name: (weight, signed, rescale, c, d, gamma, input mean, input std)
CASES = [
    ("w", 1, 1, 1, 0.6, 0.4, 0.75, 0.0, 0.6),
    ("wg", 1, 1, 1, 0.5, 0.5, 1.3, 0.0, 0.45),
    ("wp", 1, 1, 0, 0.45, 0.3, 0.8, 0.0, 0.5),
    ("a", 0, 0, 1, 1.0, 0.8, 1.0, 0.8, 1.0),
    ("ap", 0, 0, 0, 0.9, 1.1, 1.0, 0.7, 1.2),
    ("s", 0, 1, 1, 0.7, 0.5, 1.0, 0.0, 0.9),
]


def fixture(bits):
    arrays = []
    for name, weight, signed, rescale, c0, d0, g0, mean, std in CASES:
        c0, d0, g0 = f32(c0), f32(d0), f32(g0)
        x = draw(N, mean, std, c0, d0, g0, bits, signed).requires_grad_(True)
        c = torch.tensor(c0, dtype=D, requires_grad=True)
        d = torch.tensor(d0, dtype=D, requires_grad=True)
        gamma = torch.tensor(g0, dtype=D, requires_grad=bool(weight))
        y = qil_torch(x, c, d, gamma, bits, signed, rescale)
        dy = torch.randn(N, dtype=torch.float32).to(D)
        (y * dy).sum().backward()
        dgamma = gamma.grad if weight else torch.zeros((), dtype=D)
        arrays += [
            (name + "_x", x), (name + "_dy", dy),
            (name + "_c", c), (name + "_d", d), (name + "_gamma", gamma),
            (name + "_signed", torch.tensor(float(signed))),
            (name + "_weight", torch.tensor(float(weight))),
            (name + "_rescale", torch.tensor(float(rescale))),
            (name + "_bits", torch.tensor(float(bits))),
            (name + "_y", y), (name + "_dx", x.grad),
            (name + "_dc", c.grad), (name + "_dd", d.grad), (name + "_dgamma", dgamma),
        ]
    return arrays


def main():
    torch.manual_seed(20240715)
    total = 0
    for bits in (2, 4, 8):
        path, n = write_fixture("quant_qil_b%d" % bits, fixture(bits))
        total += n
        print("%-36s %7d bytes" % (os.path.relpath(path), n))
    print("total %d bytes" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
