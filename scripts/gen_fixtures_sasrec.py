#!/usr/bin/python3
"""Reference fixtures for the attention tests (tests/unit/test_attention.c), made with
PyTorch autograd in float64.

Regenerate (from the repository root; Debian's python3-torch, torch 1.13):

    /usr/bin/python3 scripts/gen_fixtures_sasrec.py   # tests/fixtures/sasrec_*.bin

Same file format as scripts/gen_fixtures.py (its writer is reused). Each file is one
padded batch x [B, L, d] (values at padded positions are random too: they must not
matter), the real lengths, the padding side (left = 1: the real items are the last ones,
as SASRec's windows; 0: the first ones), the module's parameters, an upstream gradient
dy (zero at padded positions), the output y and the gradients of sum(y * dy).

Masks: a query sees the keys at or before it (causal) that are not padding (key padding
mask). PyTorch gives NaN rows for queries that see no key at all (left-padded padding
queries), so a padded query is allowed to see itself; that changes nothing at the real
positions, which are all that C computes (nn/attention.h packs the real rows).

Files:
  sasrec_mha            nn.MultiheadAttention(8, 2 heads), self-attention, left padding
  sasrec_encoder_gelu   nn.TransformerEncoderLayer(8, 2 heads, ff 16, GELU, norm_first=True,
                        eps 1e-5), left padding
  sasrec_encoder_relu   the same with 1 head, ReLU, right padding (the prototype's)
  sasrec_block          the official SASRec block (docs/BASELINES.md): q = LN1(x),
                        x = q + Attn(Q from q, K and V from x), h = LN2(x),
                        y = h + fc2(relu(fc1(h))); LayerNorm eps 1e-8; 2 heads; left padding
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # leave scripts/__pycache__ alone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import f32, leaf, write_fixture  # noqa: E402

D = torch.float64
B, L, DM = 3, 6, 8


def pad_mask(lengths, left):
    """[B, L] True at padded positions."""
    pos = torch.arange(L).unsqueeze(0)
    n = torch.tensor(lengths).unsqueeze(1)
    return pos < (L - n) if left else pos >= n


def attn_bias(lengths, left, heads):
    """Additive mask [B*heads, L, L]: -inf for future or padded keys (a padded query keeps
    itself)."""
    pad = pad_mask(lengths, left)
    i = torch.arange(L).unsqueeze(1)
    j = torch.arange(L).unsqueeze(0)
    banned = (j > i).unsqueeze(0) | (pad.unsqueeze(1) & ~(i == j).unsqueeze(0))
    bias = torch.zeros(B, L, L, dtype=D).masked_fill(banned, float("-inf"))
    return bias.repeat_interleave(heads, dim=0)


def randomize_(t, scale):
    """Overwrite a parameter with float32-valued random numbers."""
    with torch.no_grad():
        t.copy_(f32(torch.randn(t.shape, dtype=D) * scale))


def upstream(y, lengths, left):
    dy = f32(torch.randn(y.shape, dtype=D))
    return dy.masked_fill(pad_mask(lengths, left).unsqueeze(-1), 0.0)


def common(x, lengths, left, heads, dy, y):
    return [("x", x), ("lengths", torch.tensor(lengths, dtype=D)), ("left", torch.tensor(float(left))),
            ("heads", torch.tensor(float(heads))), ("dy", dy), ("y", y), ("dx", x.grad)]


def fx_mha():
    heads, lengths, left = 2, [6, 4, 1], 1
    m = nn.MultiheadAttention(DM, heads, batch_first=True).to(D)
    randomize_(m.in_proj_bias, 0.3)
    randomize_(m.out_proj.bias, 0.3)
    x = leaf(B, L, DM)
    y, _ = m(x, x, x, attn_mask=attn_bias(lengths, left, heads), need_weights=False)
    dy = upstream(y, lengths, left)
    (y * dy).sum().backward()
    return common(x, lengths, left, heads, dy, y) + [
        ("in_w", m.in_proj_weight), ("in_b", m.in_proj_bias), ("out_w", m.out_proj.weight),
        ("out_b", m.out_proj.bias), ("d_in_w", m.in_proj_weight.grad), ("d_in_b", m.in_proj_bias.grad),
        ("d_out_w", m.out_proj.weight.grad), ("d_out_b", m.out_proj.bias.grad)]


def block_arrays(pairs):
    out = []
    for name, p in pairs:
        out += [(name, p), ("d_" + name, p.grad)]
    return out


def fx_encoder(heads, act, lengths, left):
    m = nn.TransformerEncoderLayer(DM, heads, dim_feedforward=16, dropout=0.0, activation=act,
                                   layer_norm_eps=1e-5, batch_first=True, norm_first=True).to(D)
    for p in (m.self_attn.in_proj_bias, m.self_attn.out_proj.bias, m.norm1.bias, m.norm2.bias):
        randomize_(p, 0.3)
    for p in (m.norm1.weight, m.norm2.weight):
        with torch.no_grad():
            p.copy_(f32(1.0 + 0.3 * torch.randn(p.shape, dtype=D)))
    x = leaf(B, L, DM)
    y = m(x, src_mask=attn_bias(lengths, left, heads))
    dy = upstream(y, lengths, left)
    (y * dy).sum().backward()
    return common(x, lengths, left, heads, dy, y) + block_arrays([
        ("ln1_w", m.norm1.weight), ("ln1_b", m.norm1.bias), ("in_w", m.self_attn.in_proj_weight),
        ("in_b", m.self_attn.in_proj_bias), ("out_w", m.self_attn.out_proj.weight),
        ("out_b", m.self_attn.out_proj.bias), ("ln2_w", m.norm2.weight), ("ln2_b", m.norm2.bias),
        ("fc1_w", m.linear1.weight), ("fc1_b", m.linear1.bias), ("fc2_w", m.linear2.weight),
        ("fc2_b", m.linear2.bias)])


def fx_sasrec_block():
    heads, lengths, left = 2, [6, 3, 1], 1
    dh = DM // heads

    def p(*shape, scale=0.4):
        return leaf(*shape, scale=scale)

    ln1_w = f32(1.0 + 0.3 * torch.randn(DM, dtype=D)).requires_grad_(True)
    ln1_b, in_w, in_b = p(DM, scale=0.3), p(3 * DM, DM), p(3 * DM, scale=0.3)
    ln2_w = f32(1.0 + 0.3 * torch.randn(DM, dtype=D)).requires_grad_(True)
    ln2_b, fc1_w, fc1_b, fc2_w, fc2_b = p(DM, scale=0.3), p(DM, DM), p(DM, scale=0.3), p(DM, DM), p(DM, scale=0.3)
    x = leaf(B, L, DM)
    q = F.layer_norm(x, (DM,), ln1_w, ln1_b, 1e-8)
    Q = F.linear(q, in_w[:DM], in_b[:DM])
    K = F.linear(x, in_w[DM:2 * DM], in_b[DM:2 * DM])
    V = F.linear(x, in_w[2 * DM:], in_b[2 * DM:])
    split = lambda t: t.view(B, L, heads, dh).transpose(1, 2)  # [B, h, L, dh]
    s = split(Q) @ split(K).transpose(2, 3) / math.sqrt(dh)
    s = s + attn_bias(lengths, left, heads).view(B, heads, L, L)
    o = (torch.softmax(s, -1) @ split(V)).transpose(1, 2).reshape(B, L, DM)
    h = F.layer_norm(q + o, (DM,), ln2_w, ln2_b, 1e-8)
    y = h + F.linear(F.relu(F.linear(h, fc1_w, fc1_b)), fc2_w, fc2_b)
    dy = upstream(y, lengths, left)
    (y * dy).sum().backward()
    return common(x, lengths, left, heads, dy, y) + block_arrays([
        ("ln1_w", ln1_w), ("ln1_b", ln1_b), ("in_w", in_w), ("in_b", in_b), ("ln2_w", ln2_w),
        ("ln2_b", ln2_b), ("fc1_w", fc1_w), ("fc1_b", fc1_b), ("fc2_w", fc2_w), ("fc2_b", fc2_b)])


def main():
    torch.manual_seed(20240612)
    fixtures = [
        ("sasrec_mha", fx_mha),
        ("sasrec_encoder_gelu", lambda: fx_encoder(2, "gelu", [6, 4, 1], 1)),
        ("sasrec_encoder_relu", lambda: fx_encoder(1, "relu", [5, 3, 2], 0)),
        ("sasrec_block", fx_sasrec_block),
    ]
    for name, fn in fixtures:
        path, n = write_fixture(name, fn())
        print("%-40s %7d bytes" % (os.path.relpath(path), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
