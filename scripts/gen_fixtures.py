#!/usr/bin/python3
"""Reference fixtures for the op tests (tests/unit/test_ops_torch.c), made with PyTorch.

Regenerate ("make fixtures"; from the repository root, needs Debian's python3-torch,
torch 1.13, so use the system interpreter, not a virtual environment):

    /usr/bin/python3 scripts/gen_fixtures.py            # writes tests/fixtures/*.bin

The .bin files are committed, so building and running the C tests never needs Python;
rerun this only after changing it. The output is byte-for-byte deterministic (fixed
torch.manual_seed); every reference is computed in float64 and stored as float32, and
every input is a float32 value, so C and torch see the same inputs exactly.

For an op y = f(x, w, b) each fixture holds the inputs, the parameters, a random
upstream gradient dy, the output y and the gradients of loss = sum(y * dy) with respect
to every input and parameter (dx, dw, db...), from torch autograd.

File format (little-endian):

    char     magic[4] = "QFX1"
    u32      count                      number of arrays that follow
    count times:
        u32  name_len
        char name[name_len]             not NUL-terminated
        u32  ndim                       0 for a scalar (one value)
        i32  shape[ndim]
        f32  data[prod(shape)]          row-major

Integer data (embedding ids, class labels) is stored as float32 (exact: small values).
"""

import os
import struct
import sys

import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
D = torch.float64


def write_fixture(name, arrays):
    """arrays: list of (name, tensor-like); stored as float32."""
    path = os.path.join(OUT_DIR, name + ".bin")
    out = bytearray(b"QFX1")
    out += struct.pack("<I", len(arrays))
    for key, t in arrays:
        t = torch.as_tensor(t).detach().to(torch.float64).to(torch.float32).contiguous()
        kb = key.encode("ascii")
        out += struct.pack("<I", len(kb)) + kb
        out += struct.pack("<I", t.dim())
        out += struct.pack("<%di" % t.dim(), *t.shape)
        out += struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist())
    with open(path, "wb") as f:
        f.write(out)
    return path, len(out)


def leaf(*shape, scale=1.0):
    """A float64 leaf tensor whose values are exactly float32 (so C sees the same input)."""
    t = (torch.randn(*shape, dtype=torch.float32) * scale).to(D)
    return t.requires_grad_(True)


def f32(t):
    """Round a float64 tensor to float32 values, kept as float64."""
    return t.to(torch.float32).to(D)


def backward(y, *leaves):
    dy = f32(torch.randn(y.shape, dtype=D))
    (y * dy).sum().backward()
    return dy, [t.grad for t in leaves]


def fx_matmul_bias():
    x, w, b = leaf(5, 7), leaf(4, 7, scale=0.4), leaf(4, scale=0.4)
    y = F.linear(x, w, b)
    dy, (dx, dw, db) = backward(y, x, w, b)
    return [("x", x), ("w", w), ("b", b), ("dy", dy), ("y", y), ("dx", dx), ("dw", dw),
            ("db", db)]


def fx_conv(N, C, H, W, O, k, stride, pad, bias):
    x, w = leaf(N, C, H, W), leaf(O, C, k, k, scale=0.3)
    b = leaf(O, scale=0.3) if bias else None
    y = F.conv2d(x, w, b, stride=stride, padding=pad)
    dy, grads = backward(y, *([x, w, b] if bias else [x, w]))
    arrs = [("x", x), ("w", w)] + ([("b", b)] if bias else [])
    arrs += [("stride", torch.tensor(float(stride))), ("pad", torch.tensor(float(pad)))]
    arrs += [("dy", dy), ("y", y), ("dx", grads[0]), ("dw", grads[1])]
    if bias:
        arrs.append(("db", grads[2]))
    return arrs


def fx_activation(fn, lo, hi, avoid_zero=False):
    x = torch.empty(4, 37, dtype=torch.float32).uniform_(lo, hi)
    if avoid_zero:  # keep ReLU inputs off its kink
        x = torch.where(x.abs() < 0.05, x + 0.1 * torch.sign(x + 1e-9), x)
    x = x.to(D).requires_grad_(True)
    y = fn(x)
    dy, (dx,) = backward(y, x)
    return [("x", x), ("dy", dy), ("y", y), ("dx", dx)]


def fx_maxpool(ties):
    x = torch.randn(2, 3, 7, 9, dtype=torch.float32)
    if ties:  # a coarse grid: many windows hold equal maxima (first one wins)
        x = torch.round(x * 1.5)
    x = x.to(D).requires_grad_(True)
    y = F.max_pool2d(x, 2, 2)  # floor mode: 7x9 -> 3x4
    dy, (dx,) = backward(y, x)
    return [("x", x), ("dy", dy), ("y", y), ("dx", dx)]


def fx_embedding():
    table = leaf(10, 6)
    ids = torch.tensor([3, 2, 7, 2, 0, 9, 3, 3, 5, 2, 1, 8])
    y = F.embedding(ids, table, padding_idx=2)
    dy, (dt,) = backward(y, table)
    return [("table", table), ("ids", ids), ("padding_idx", torch.tensor(2.0)), ("dy", dy),
            ("y", y), ("dtable", dt)]


def fx_layernorm():
    x = leaf(3, 4, 8)
    x = f32(x.detach() * 2.0 + 0.5).requires_grad_(True)  # non-zero mean, non-unit variance
    gamma = (1.0 + 0.3 * leaf(8).detach()).to(torch.float32).to(D).requires_grad_(True)
    beta = leaf(8, scale=0.2)
    y = F.layer_norm(x, (8,), gamma, beta, eps=1e-5)
    dy, (dx, dg, db) = backward(y, x, gamma, beta)
    return [("x", x), ("gamma", gamma), ("beta", beta), ("dy", dy), ("y", y), ("dx", dx),
            ("dgamma", dg), ("dbeta", db)]


def fx_pixel_shuffle():
    x = leaf(2, 18, 3, 4)
    y = F.pixel_shuffle(x, 3)  # -> [2, 2, 9, 12]
    dy, (dx,) = backward(y, x)
    return [("x", x), ("dy", dy), ("y", y), ("dx", dx)]


def fx_cross_entropy():
    logits = leaf(6, 5, scale=2.0)
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    loss = F.cross_entropy(logits, labels, reduction="mean")
    dy = torch.tensor(0.75, dtype=D)  # upstream d(total)/d(loss), not 1
    (loss * dy).backward()
    return [("logits", logits), ("labels", labels), ("dy", dy), ("loss", loss),
            ("dlogits", logits.grad)]


def fx_mse():
    pred = leaf(4, 5)
    target = f32(torch.randn(4, 5, dtype=D))
    loss = F.mse_loss(pred, target, reduction="mean")
    dy = torch.tensor(1.25, dtype=D)
    (loss * dy).backward()
    return [("pred", pred), ("target", target), ("dy", dy), ("loss", loss),
            ("dpred", pred.grad)]


def fx_adamw():
    """3 AdamW steps, torch.optim.AdamW(lr 5e-3, betas (0.9, 0.999), eps 1e-8); the weight
    group decays by 0.01, the bias (no-decay) and quantizer groups by 0, as in C's
    adamw_init(opt, 5e-3, 0.01)."""
    w0, b0, s0 = f32(torch.randn(3, 4, dtype=D)), f32(torch.randn(4, dtype=D)), f32(torch.rand(2, dtype=D) + 0.5)
    w, b, s = (t.clone().requires_grad_(True) for t in (w0, b0, s0))
    opt = torch.optim.AdamW([{"params": [w], "weight_decay": 0.01},
                             {"params": [b], "weight_decay": 0.0},
                             {"params": [s], "weight_decay": 0.0}],
                            lr=5e-3, betas=(0.9, 0.999), eps=1e-8)
    arrs = [("w0", w0), ("b0", b0), ("s0", s0)]
    for step in range(1, 4):
        gw, gb, gs = f32(torch.randn(3, 4, dtype=D)), f32(torch.randn(4, dtype=D)), f32(0.1 * torch.randn(2, dtype=D))
        w.grad, b.grad, s.grad = gw.clone(), gb.clone(), gs.clone()
        opt.step()
        arrs += [("gw%d" % step, gw), ("gb%d" % step, gb), ("gs%d" % step, gs),
                 ("w%d" % step, w.detach().clone()), ("b%d" % step, b.detach().clone()),
                 ("s%d" % step, s.detach().clone())]
    for name, t in (("w", w), ("b", b), ("s", s)):
        st = opt.state[t]
        arrs += [("m_" + name, st["exp_avg"]), ("v_" + name, st["exp_avg_sq"])]
    return arrs


def fx_clip_grad_norm():
    arrs = []
    for case, max_norm in (("a", 1.0), ("b", 100.0)):  # a clips, b leaves the grads
        ps = [torch.zeros(s, dtype=D, requires_grad=True) for s in ((3, 4), (4,), (2, 2, 3))]
        for i, p in enumerate(ps):
            p.grad = f32(torch.randn(p.shape, dtype=D))
            arrs.append(("%s_g%d" % (case, i), p.grad.clone()))
        norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        arrs += [("%s_max_norm" % case, torch.tensor(max_norm)), ("%s_norm" % case, norm)]
        arrs += [("%s_clipped%d" % (case, i), p.grad) for i, p in enumerate(ps)]
    return arrs


def main():
    torch.manual_seed(20240611)
    os.makedirs(OUT_DIR, exist_ok=True)
    fixtures = [
        ("matmul_bias", fx_matmul_bias),
        ("conv2d_s1p0", lambda: fx_conv(2, 3, 7, 6, 4, 3, 1, 0, False)),
        ("conv2d_s5p0", lambda: fx_conv(2, 8, 26, 26, 8, 3, 5, 0, True)),
        ("conv2d_s1p1", lambda: fx_conv(3, 4, 6, 5, 5, 3, 1, 1, True)),
        ("conv2d_s2p2", lambda: fx_conv(2, 2, 7, 8, 3, 5, 2, 2, True)),
        ("relu", lambda: fx_activation(F.relu, -3.0, 3.0, avoid_zero=True)),
        ("tanh", lambda: fx_activation(torch.tanh, -3.0, 3.0)),
        ("sigmoid", lambda: fx_activation(torch.sigmoid, -6.0, 6.0)),
        ("gelu", lambda: fx_activation(lambda t: F.gelu(t, approximate="none"), -5.0, 5.0)),
        ("maxpool2d", lambda: fx_maxpool(False)),
        ("maxpool2d_ties", lambda: fx_maxpool(True)),
        ("embedding", fx_embedding),
        ("layernorm", fx_layernorm),
        ("pixel_shuffle", fx_pixel_shuffle),
        ("cross_entropy", fx_cross_entropy),
        ("mse", fx_mse),
        ("adamw", fx_adamw),
        ("clip_grad_norm", fx_clip_grad_norm),
    ]
    total = 0
    for name, fn in fixtures:
        path, n = write_fixture(name, fn())
        total += n
        print("%-36s %7d bytes" % (os.path.relpath(path), n))
    print("total %d bytes" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
