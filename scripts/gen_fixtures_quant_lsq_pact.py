#!/usr/bin/python3
"""Reference fixtures for the LSQ and PACT quantizer tests (tests/unit/test_quant_lsq.c,
tests/unit/test_quant_pact.c), made with PyTorch autograd from independent float64
implementations of docs/METHODS.md 1.2-1.4 (LSQ) and 2.2-2.6 (PACT, SAWB, DoReFa), with the
straight-through estimator written as r = t + (round(t) - t).detach().

Regenerate (from the repository root; Debian's python3-torch, torch 1.13):

    /usr/bin/python3 scripts/gen_fixtures_quant_lsq_pact.py
        # tests/fixtures/quant_lsq_b{2,4,8}.bin, tests/fixtures/quant_pact_b{2,4,8}.bin

Same file format as scripts/gen_fixtures.py (its writer is reused). Every input is a
float32 value; references are computed in float64 and stored as float32. The loss is
sum(y * dy) (+ lambda_alpha * alpha^2 for PACT activations).

LSQ files, cases w (signed weights, per-tensor), wc (signed weights, per-channel, one
step per row), a (unsigned activations), s (signed activations); case <k> has

    <k>_x [rows, cols], <k>_dy    input and upstream gradient
    <k>_s [rows]                  step(s) used by the forward
    <k>_bits, <k>_signed, <k>_weight, <k>_rows, <k>_batch   flags / sizes
    <k>_y, <k>_dx, <k>_ds [rows]  output and gradients (ds with the gradient scale
                                  g = 1/sqrt(N Qp): N = elements per row for weights,
                                  elements per example (n / batch) for activations)
    <k>_s0 [rows]                 the init 2 mean|x| / sqrt(Qp) of this x (per row)

PACT files, cases u (unsigned activations), s (signed activations), w (SAWB weights),
r (DoReFa weights); case <k> has

    <k>_x, <k>_dy, <k>_bits, <k>_kind (0 u, 1 s, 2 sawb, 3 dorefa)
    <k>_alpha, <k>_lambda         activations: clip and L2 coefficient
    <k>_y, <k>_dx, <k>_dalpha     (dalpha includes 2 lambda alpha)
    <k>_alpha_w                   SAWB: the clip computed from x (no gradient through it)
    <k>_alpha0                    activations: max|x| (the "max" init)

Inputs avoid everything where float32 (C) and float64 (here) could disagree: rounding
ties, clipping boundaries (except the SAWB b >= 6 maximum element, which sits exactly on
alpha_w = max|w| by construction and is handled by the explicit mask 1[|w| < alpha_w]),
and exact zeros. The output is byte-for-byte deterministic (fixed seed).
"""

import math
import os
import sys

import torch

sys.dont_write_bytecode = True  # leave scripts/__pycache__ alone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_fixture  # noqa: E402

D = torch.float64
MARGIN = 2e-3  # in code units: distance to a rounding tie or a clipping boundary


def f32(v):
    return float(torch.tensor(v, dtype=torch.float32))


def f32t(t):
    return t.to(torch.float32).to(D)


def ste_round(t):
    return t + (torch.round(t) - t).detach()


def near_tie(v):
    return abs(v - math.floor(v) - 0.5) < MARGIN


def near(v, b):
    return abs(v - b) < MARGIN


# --- LSQ --------------------------------------------------------------------------------


def lsq_grid(bits, signed):
    if signed:
        return 2.0 ** (bits - 1), 2.0 ** (bits - 1) - 1.0
    return 0.0, 2.0 ** bits - 1.0


def lsq_torch(x, s, qn, qp, g):
    """x [rows, cols], s [rows] (float64, autograd). Value s, gradient scaled by g."""
    ss = (s * g + (s - s * g).detach()).reshape(-1, 1)
    t = x / ss
    tc = torch.clamp(t, -qn, qp)
    return ste_round(tc) * ss


def lsq_ok(v, s, qn, qp):
    t = v / s
    if v == 0.0 or near(t, -qn) or near(t, qp):
        return False
    return not (-qn < t < qp and near_tie(t))


def lsq_draw(n, mean, std, s, qn, qp):
    out = []
    while len(out) < n:
        v = f32(float(torch.randn(()) * std + mean))
        if lsq_ok(v, s, qn, qp):
            out.append(v)
    return out


# name: (weight, signed, rows, cols, batch, steps (per row, in units of std), mean, std)
LSQ_CASES = [
    ("w", 1, 1, 1, 96, 1, None, 0.0, 0.4),
    ("wc", 1, 1, 4, 24, 1, None, 0.0, 0.4),
    ("a", 0, 0, 1, 96, 4, None, 0.6, 1.0),
    ("s", 0, 1, 1, 96, 4, None, 0.0, 1.0),
]


def lsq_fixture(bits):
    arrays = []
    for name, weight, signed, rows, cols, batch, _, mean, std in LSQ_CASES:
        qn, qp = lsq_grid(bits, signed)
        # steps: the top of the range, Qp s, sits about 2 std above 0 (so clipping and the
        # interior are both hit), varied per row
        base = 2.0 * (std + abs(mean)) / qp
        steps = [f32(base * (0.8 + 0.15 * r)) for r in range(rows)]
        xs = []
        for r in range(rows):
            xs += lsq_draw(cols, mean, std, steps[r], qn, qp)
        x = torch.tensor(xs, dtype=D).reshape(rows, cols).requires_grad_(True)
        s = torch.tensor(steps, dtype=D, requires_grad=True)
        N = cols if weight else rows * cols / batch
        g = 1.0 / math.sqrt(N * qp)
        y = lsq_torch(x, s, qn, qp, g)
        dy = f32t(torch.randn(rows, cols, dtype=D))
        (y * dy).sum().backward()
        s0 = (2.0 * x.detach().abs().mean(dim=1) / math.sqrt(qp))
        arrays += [
            (name + "_x", x), (name + "_dy", dy), (name + "_s", s),
            (name + "_bits", torch.tensor(float(bits))),
            (name + "_signed", torch.tensor(float(signed))),
            (name + "_weight", torch.tensor(float(weight))),
            (name + "_rows", torch.tensor(float(rows))),
            (name + "_batch", torch.tensor(float(batch))),
            (name + "_y", y), (name + "_dx", x.grad), (name + "_ds", s.grad),
            (name + "_s0", s0),
        ]
    return arrays


# --- PACT -------------------------------------------------------------------------------

SAWB = {2: (3.12, -2.064), 3: (7.509, -6.892), 4: (12.68, -12.80), 5: (17.74, -18.64)}


def pact_act_torch(x, alpha, bits, signed, lam):
    """Paper STE: the step alpha/n is a constant (detached), clip through autograd."""
    n = 2.0 ** (bits - 1) - 1.0 if signed else 2.0 ** bits - 1.0
    lo = -alpha if signed else torch.zeros((), dtype=D)
    # clip with the spec's masks: d/dx = 1 strictly inside, d/dalpha = +1 at x >= alpha,
    # -1 at x <= -alpha (signed)
    y = torch.where(x >= alpha, alpha + 0.0 * x, torch.where(x <= lo, lo + 0.0 * x, x))
    step = (alpha / n).detach()
    yq = ste_round(y / step) * step
    return yq, lam * alpha * alpha


def sawb_alpha(w, bits):
    if bits in SAWB:
        c1, c2 = SAWB[bits]
        e1 = w.abs().mean()
        e2 = torch.sqrt((w * w).mean())
        a = c1 * e2 + c2 * e1
    else:
        a = w.abs().max()
    if not a > 0:
        a = torch.clamp(w.abs().max(), min=1e-8)
    return float(a)


def sawb_torch(w, a, bits):
    L = 2.0 ** bits - 1.0
    inside = w.abs() < a
    t = torch.where(inside, w / a, torch.sign(w).detach())
    k = ste_round((t + 1.0) / 2.0 * L)
    return (2.0 * k / L - 1.0) * a


def dorefa_torch(w, bits):
    L = 2.0 ** bits - 1.0
    th = torch.tanh(w)
    u = th / (2.0 * th.abs().max()) + 0.5
    k = ste_round(u * L)
    return 2.0 * k / L - 1.0


def pact_act_ok(v, alpha, bits, signed):
    n = 2.0 ** (bits - 1) - 1.0 if signed else 2.0 ** bits - 1.0
    if v == 0.0 or near(v / alpha * n, n) or near(v / alpha * n, -n if signed else 0.0):
        return False
    t = v / alpha * n
    lo = -n if signed else 0.0
    return not (lo < t < n and near_tie(t))


def draw_weights(n, std, ok_all):
    """Redraw offending elements until ok_all(list) returns no bad indices."""
    w = [f32(float(torch.randn(()) * std)) for _ in range(n)]
    for _ in range(1000):
        bad = ok_all(w)
        if not bad:
            return w
        for i in bad:
            w[i] = f32(float(torch.randn(()) * std))
    raise RuntimeError("could not draw tie-free weights")


def sawb_bad(bits):
    L = 2.0 ** bits - 1.0

    def bad(w):
        t = torch.tensor(w, dtype=D)
        a = f32(sawb_alpha(t, bits))
        out = []
        for i, v in enumerate(w):
            if v == 0.0:
                out.append(i)
                continue
            if abs(v) == a:  # the max element at b >= 6: on the boundary by construction
                continue
            r = v / a
            if abs(abs(r) - 1.0) * L / 2.0 < MARGIN:
                out.append(i)
            elif abs(r) < 1.0 and near_tie((r + 1.0) / 2.0 * L):
                out.append(i)
        return out

    return bad


def dorefa_bad(bits):
    L = 2.0 ** bits - 1.0

    def bad(w):
        t = torch.tensor(w, dtype=D)
        th = torch.tanh(t)
        m = float(th.abs().max())
        out = []
        mags = sorted(abs(v) for v in w)
        for i, v in enumerate(w):
            u = math.tanh(v) / (2.0 * m) + 0.5
            if v == 0.0 or near_tie(u * L):
                out.append(i)
            elif abs(v) == mags[-1] and mags[-2] > 0.98 * mags[-1]:  # clear argmax
                out.append(i)
        return out

    return bad


PACT_N = 100
# name: (kind, alpha, mean, std): kind 0 unsigned act, 1 signed act, 2 SAWB, 3 DoReFa
PACT_CASES = [
    ("u", 0, 1.7, 0.8, 1.0),
    ("s", 1, 1.3, 0.0, 1.0),
    ("w", 2, None, 0.0, 0.3),
    ("r", 3, None, 0.0, 0.5),
]
LAMBDA = 1e-4  # the default quantizer.lambda_alpha


def pact_fixture(bits):
    arrays = []
    for name, kind, alpha0, mean, std in PACT_CASES:
        dy = f32t(torch.randn(PACT_N, dtype=D))
        extra = []
        if kind <= 1:
            signed = kind == 1
            a = f32(alpha0)
            xs = []
            while len(xs) < PACT_N:
                v = f32(float(torch.randn(()) * std + mean))
                if pact_act_ok(v, a, bits, signed):
                    xs.append(v)
            x = torch.tensor(xs, dtype=D, requires_grad=True)
            alpha = torch.tensor(a, dtype=D, requires_grad=True)
            y, pen = pact_act_torch(x, alpha, bits, signed, LAMBDA)
            ((y * dy).sum() + pen).backward()
            dalpha = alpha.grad
            extra = [(name + "_alpha0", x.detach().abs().max())]
        elif kind == 2:
            xs = draw_weights(PACT_N, std, sawb_bad(bits))
            x = torch.tensor(xs, dtype=D, requires_grad=True)
            a = f32(sawb_alpha(x.detach(), bits))
            alpha = torch.tensor(a, dtype=D)
            y = sawb_torch(x, a, bits)
            (y * dy).sum().backward()
            dalpha = torch.zeros((), dtype=D)
            extra = [(name + "_alpha_w", alpha)]
        else:
            xs = draw_weights(PACT_N, std, dorefa_bad(bits))
            x = torch.tensor(xs, dtype=D, requires_grad=True)
            alpha = torch.zeros((), dtype=D)
            y = dorefa_torch(x, bits)
            (y * dy).sum().backward()
            dalpha = torch.zeros((), dtype=D)
        arrays += [
            (name + "_x", x), (name + "_dy", dy),
            (name + "_bits", torch.tensor(float(bits))),
            (name + "_kind", torch.tensor(float(kind))),
            (name + "_alpha", alpha),
            (name + "_lambda", torch.tensor(LAMBDA if kind <= 1 else 0.0)),
            (name + "_y", y), (name + "_dx", x.grad), (name + "_dalpha", dalpha),
        ] + extra
    return arrays


def main():
    torch.manual_seed(20240802)
    total = 0
    for prefix, fn in (("quant_lsq", lsq_fixture), ("quant_pact", pact_fixture)):
        for bits in (2, 4, 8):
            path, n = write_fixture("%s_b%d" % (prefix, bits), fn(bits))
            total += n
            print("%-36s %7d bytes" % (os.path.relpath(path), n))
    print("total %d bytes" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
