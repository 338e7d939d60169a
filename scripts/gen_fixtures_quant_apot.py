#!/usr/bin/python3
"""Reference fixtures for the APoT quantizer test (tests/unit/test_quant_apot.c), made with
PyTorch autograd from an independent float64 implementation of docs/METHODS.md 4.2-4.6.

Regenerate (from the repository root; Debian's python3-torch, torch 1.13):

    /usr/bin/python3 scripts/gen_fixtures_quant_apot.py   # tests/fixtures/quant_apot_b{2,4,8}.bin

Same file format as scripts/gen_fixtures.py (its writer is reused). One file per bit width
b = 2, 4, 8; case <k> has the arrays

    <k>_x, <k>_dy              input (float32 values) and upstream gradient
    <k>_alpha                  the clipping parameter
    <k>_weight, <k>_signed, <k>_denorm, <k>_uniform, <k>_bits   flags (0/1) and bit width
    <k>_y                      forward output
    <k>_dx, <k>_dalpha         gradients of loss = sum(y * dy)

Cases (every b): w (weights, denorm W_q = sigma*q + mu), wo (weights, official output q),
a (unsigned activation, Q(b)), s (signed activation, +-Q(b-1)); at b = 8 also the uniform
mode (quantizer.high_bits: uniform): wu, wuo, au, su. At b = 2 the weights are the
official ternary quantizer with calibrated gradients (uq_with_calibrated_graditens) and the
signed activation uses Q(1) = {0, 1}.

Autograd does everything except the projection, which is a straight-through estimator
(P - c detached; the ternary weights use the official custom backward). Weight
normalisation (mean, unbiased std) is differentiated by autograd. Level sets use exact
float64 values (sums of powers of two divided by the largest sum) and an argmin projection.

Inputs avoid everything where float32 (C) and float64 (here) could decide differently:
projection midpoints (ties), the clipping boundaries |v| = alpha, rounding ties of the
uniform and ternary grids, and values near 0. The output is byte-for-byte deterministic
(fixed seed).
"""

import os
import sys

import torch

sys.dont_write_bytecode = True  # leave scripts/__pycache__ alone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_fixture  # noqa: E402

D = torch.float64
N = 60  # elements per case
MARGIN = 1e-4  # in units of c = v/alpha (float32 c is off by < 1e-7)


def f32(v):
    return float(torch.tensor(v, dtype=torch.float32))


def apot_levels(B):
    """Q(B) ascending, float64, by the generalised construction of docs/METHODS.md 4.2:
    n = B//2 two-bit terms, one one-bit term for odd B; exponents 1, 2, ... go twice
    round-robin over the two-bit terms, then to the one-bit term, then once more over the
    two-bit terms."""
    n, odd = B // 2, B % 2
    terms = [[] for _ in range(n)]
    e = 1
    for _ in range(2):
        for i in range(n):
            terms[i].append(e)
            e += 1
    if odd:
        uterm = [e]
        e += 1
    for i in range(n):
        terms[i].append(e)
        e += 1
    sets = [[0.0] + [2.0 ** -x for x in t] for t in terms]
    if odd:
        sets.append([0.0] + [2.0 ** -x for x in uterm])
    sums = [0.0]
    for s in sets:  # exact: distinct powers of two down to 2^-24
        sums = [a + b for a in sums for b in s]
    sums = sorted(sums)
    assert len(sums) == 2 ** B and len(set(sums)) == 2 ** B
    top = sums[-1]
    return torch.tensor([v / top for v in sums], dtype=D)


def project(a, lv):
    """Nearest level of a >= 0 (argmin: the first, i.e. lower, level on a tie)."""
    idx = torch.argmin((a.unsqueeze(1) - lv.unsqueeze(0)).abs(), dim=1)
    return lv[idx]


def near_mid(a, lv):
    """|a| closer than MARGIN to a midpoint between neighbouring levels."""
    mids = (lv[1:] + lv[:-1]) / 2
    return (a.unsqueeze(1) - mids.unsqueeze(0)).abs().min(dim=1)[0] < MARGIN


class TernaryCalibrated(torch.autograd.Function):
    """Official uq_with_calibrated_graditens (docs/METHODS.md 4.5), on normalised u."""

    @staticmethod
    def forward(ctx, u, alpha):
        t = u / alpha
        tq = t.clamp(-1, 1).round()
        ctx.save_for_backward(t, tq)
        return tq * alpha

    @staticmethod
    def backward(ctx, g):
        t, tq = ctx.saved_tensors
        i = (t.abs() > 1.0).to(D)
        grad_alpha = (g * (t.sign() * i + (tq - t) * (1 - i))).sum()
        return g.clone(), grad_alpha  # dq/du = 1: not masked


def ste(c, P):
    return c + (P - c).detach()


def weight_quant(W, alpha, bits, denorm, uniform):
    mu = W.mean()
    sigma = W.std()  # unbiased
    u = (W - mu) / sigma
    if bits == 2:
        q = TernaryCalibrated.apply(u, alpha)
    else:
        c = torch.clamp(u / alpha, -1, 1)
        if uniform:
            L = 2.0 ** (bits - 1) - 1
            P = torch.round(c * L) / L
        else:
            P = torch.sign(c) * project(c.abs().detach(), apot_levels(bits - 1))
        q = alpha * ste(c, P)
    return sigma * q + mu if denorm else q


def act_quant(x, alpha, bits, signed, uniform):
    if signed:
        c = torch.clamp(x / alpha, -1, 1)
        if uniform:
            L = 2.0 ** (bits - 1) - 1
            P = torch.round(c * L) / L
        else:
            P = torch.sign(c) * project(c.abs().detach(), apot_levels(bits - 1))
    else:
        c = torch.clamp(x / alpha, 0, 1)
        if uniform:
            L = 2.0 ** bits - 1
            P = torch.round(c * L) / L
        else:
            P = project(c.detach(), apot_levels(bits))
    return alpha * ste(c, P)


def bad_mask(v, alpha, bits, weight, signed, uniform):
    """Elements (v = u for weights, x for activations) where C and torch could disagree."""
    c = v / alpha
    a = c.abs()
    bad = ((a - 1).abs() < MARGIN) | (a < MARGIN)
    inside = a < 1
    if weight and bits == 2:
        bad |= ((a - 0.5).abs() < MARGIN)  # round tie of t
        return bad
    if uniform:
        L = 2.0 ** (bits - 1) - 1 if (weight or signed) else 2.0 ** bits - 1
        frac = (a * L) - torch.floor(a * L)
        bad |= inside & ((frac - 0.5).abs() < MARGIN * L)
        return bad
    lv = apot_levels(bits - 1 if (weight or signed) else bits)
    bad |= inside & near_mid(a.clamp(0, 1), lv)
    return bad


def draw(mean, std):
    return torch.tensor([f32(float(torch.randn(()) * std + mean)) for _ in range(N)], dtype=D)


def make_case(bits, weight, signed, denorm, uniform, alpha, mean, std):
    alpha = f32(alpha)
    x = draw(mean, std)
    for _ in range(1000):  # redraw the offenders until no element is near a decision
        if weight:
            v = (x - x.mean()) / x.std()
        else:
            v = x
        bad = bad_mask(v, alpha, bits, weight, signed, uniform)
        if not bool(bad.any()):
            break
        for i in torch.nonzero(bad).flatten().tolist():
            x[i] = f32(float(torch.randn(()) * std + mean))
    else:
        raise RuntimeError("could not draw a tie-free input")
    x = x.clone().requires_grad_(True)
    a = torch.tensor(alpha, dtype=D, requires_grad=True)
    if weight:
        y = weight_quant(x, a, bits, denorm, uniform)
    else:
        y = act_quant(x, a, bits, signed, uniform)
    dy = torch.randn(N, dtype=torch.float32).to(D)
    (y * dy).sum().backward()
    return x, dy, a, y, x.grad, a.grad


# name: (weight, signed, denorm, uniform, alpha, input mean, input std)
CASES = [
    ("w", 1, 1, 1, 0, 2.0, 0.02, 0.1),
    ("wo", 1, 1, 0, 0, 1.7, -0.01, 0.3),
    ("a", 0, 0, 0, 0, 1.5, 0.6, 0.8),
    ("s", 0, 1, 0, 0, 1.2, 0.0, 0.8),
]
UNIFORM_CASES = [
    ("wu", 1, 1, 1, 1, 2.2, 0.01, 0.2),
    ("wuo", 1, 1, 0, 1, 1.9, 0.0, 0.05),
    ("au", 0, 0, 0, 1, 1.4, 0.5, 0.7),
    ("su", 0, 1, 0, 1, 1.1, 0.05, 0.7),
]


def fixture(bits):
    arrays = []
    cases = CASES + (UNIFORM_CASES if bits >= 8 else [])
    for name, weight, signed, denorm, uniform, alpha, mean, std in cases:
        if weight and bits == 2:
            alpha = 1.2  # ternary: some |t| > 1, ties at |t| = 0.5 avoided
        x, dy, a, y, dx, da = make_case(bits, weight, signed, denorm, uniform, alpha, mean, std)
        arrays += [
            (name + "_x", x), (name + "_dy", dy), (name + "_alpha", a),
            (name + "_weight", torch.tensor(float(weight))),
            (name + "_signed", torch.tensor(float(signed))),
            (name + "_denorm", torch.tensor(float(denorm))),
            (name + "_uniform", torch.tensor(float(uniform))),
            (name + "_bits", torch.tensor(float(bits))),
            (name + "_y", y), (name + "_dx", dx), (name + "_dalpha", da),
        ]
    return arrays


def check_levels():
    """The construction reproduces the official build_power_value sets (B = 2..6)."""
    official = {
        2: [[0, 1, 2, 3]],
        3: [[0, 1, 2, 4], [0, 3]],
        4: [[0, 1, 3, 5], [0, 2, 4, 6]],
        5: [[0, 1, 3, 6], [0, 2, 4, 7], [0, 5]],
        6: [[0, 1, 4, 7], [0, 2, 5, 8], [0, 3, 6, 9]],
    }
    for B, sets in official.items():
        sums = [0.0]
        for s in sets:
            sums = [a + (2.0 ** -e if e else 0.0) for a in sums for e in s]
        ref = torch.tensor(sorted(sums), dtype=D)
        ref = ref / ref[-1]
        assert torch.equal(ref, apot_levels(B)), B


def main():
    check_levels()
    torch.manual_seed(20240716)
    total = 0
    for bits in (2, 4, 8):
        path, n = write_fixture("quant_apot_b%d" % bits, fixture(bits))
        total += n
        print("%-36s %7d bytes" % (os.path.relpath(path), n))
    print("total %d bytes" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
