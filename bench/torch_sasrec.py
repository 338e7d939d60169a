"""PyTorch counterpart of `bench_step sasrec`: the same model (official SASRec block,
docs/BASELINES.md: d 50, 2 blocks, 1 head, window 200, dropout 0.2, ReLU FFN d->d, BCE with one
negative per position, Adam lr 1e-3 betas (0.9, 0.98)) on the same batch: batch 0 of the
first epoch of qat's shuffle (seed 2, xoshiro256** as core/rng.c), so both sides see the
same 128 users and sequence lengths.

The fast PyTorch setup of docs/BASELINES.md: the batch is split into length-sorted chunks, each
left-padded only to its own longest sequence (the all-padding columns trimmed: exact, same
gradients), the chunks' gradients accumulated before one Adam step.
Prints "sasrec no_quant torch threads=N batch=B chunks=C ms_per_step=X".
Usage: torch_sasrec.py THREADS STEPS [CHUNKS]. Run with Debian's python3-torch."""
import gzip
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
nchunks = int(sys.argv[3]) if len(sys.argv) > 3 else 4
torch.set_num_threads(threads)
torch.manual_seed(0)
D, BLOCKS, L, P, B = 50, 2, 200, 0.2, 128
M64 = (1 << 64) - 1


# ---- qat's RNG (core/rng.c), to take the same batch ------------------------------------
class Rng:
    def __init__(self, seed):
        x = seed
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        x = self.u64()
        m = x * n
        lo = m & M64
        if lo < n:
            t = ((1 << 64) - n) % n
            while lo < t:
                x = self.u64()
                m = x * n
                lo = m & M64
        return m >> 64

    def shuffle(self, idx):
        for i in range(len(idx), 1, -1):
            j = self.below(i)
            idx[i - 1], idx[j] = idx[j], idx[i - 1]


root = os.environ.get("QAT_DATA_DIR", "data")
path = os.path.join(root, "recsys/ml-1m/ml-1m_sasrec.txt.gz")
seqs = {}
with gzip.open(path, "rt") as f:
    for line in f:
        u, i = line.split()
        seqs.setdefault(int(u), []).append(int(i))
n_items = max(max(s) for s in seqs.values())
train = [s[:-2] if len(s) >= 3 else s for _, s in sorted(seqs.items())]
examples = [u for u, s in enumerate(train) if len(s) >= 2]
order = list(range(len(examples)))
Rng(2).shuffle(order)
batch = [examples[k] for k in order[:B]]

# Inputs: the last L training items before the final one; targets: the next items;
# one negative per position from items outside the user's training items.
gen = torch.Generator().manual_seed(0)
rows = []
for u in batch:
    s = train[u]
    inp, nxt = s[:-1][-L:], s[1:][-L:]
    seen = set(s)
    neg = []
    for _ in nxt:
        j = int(torch.randint(1, n_items + 1, (1,), generator=gen))
        while j in seen:
            j = int(torch.randint(1, n_items + 1, (1,), generator=gen))
        neg.append(j)
    rows.append((inp, nxt, neg))
rows.sort(key=lambda r: len(r[0]))
chunks = []
per = (len(rows) + nchunks - 1) // nchunks
for c in range(0, len(rows), per):
    part = rows[c:c + per]
    w = max(len(r[0]) for r in part)
    pad = lambda v: [0] * (w - len(v)) + v  # left padding to the chunk's longest
    ids = torch.tensor([pad(r[0]) for r in part])
    pos = torch.tensor([pad(r[1]) for r in part])
    neg = torch.tensor([pad(r[2]) for r in part])
    chunks.append((ids, pos, neg))


def drop(x):
    """Dropout: torch's own (DROPOUT=torch) or a mask from torch.rand (DROPOUT=rand, the
    faster of the two on CPU; the default)."""
    if DROPOUT == "torch":
        return F.dropout(x, P, True)
    return x * (torch.rand_like(x) >= P) * (1.0 / (1.0 - P))


DROPOUT = os.environ.get("DROPOUT", "rand")


class Block(nn.Module):
    """q = LN(x); x = q + Attn(Q = Wq q, K = Wk x, V = Wv x); h = LN(x); x = h + FFN(h)."""

    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D, eps=1e-8)
        self.in_proj = nn.Linear(D, 3 * D)
        self.ln2 = nn.LayerNorm(D, eps=1e-8)
        self.fc1, self.fc2 = nn.Linear(D, D), nn.Linear(D, D)

    def forward(self, x, mask):
        q = self.ln1(x)
        w, b = self.in_proj.weight, self.in_proj.bias
        Q = F.linear(q, w[:D], b[:D])
        K, V = F.linear(x, w[D:], b[D:]).chunk(2, dim=-1)
        s = (Q @ K.transpose(1, 2)) / D ** 0.5
        a = drop(torch.softmax(s.masked_fill(mask, float("-inf")), -1))
        x = q + a @ V
        h = self.ln2(x)
        return h + drop(self.fc2(drop(F.relu(self.fc1(h)))))


class SASRec(nn.Module):
    def __init__(self):
        super().__init__()
        self.item = nn.Embedding(n_items + 1, D, padding_idx=0)
        self.pos = nn.Embedding(L, D)
        self.blocks = nn.ModuleList(Block() for _ in range(BLOCKS))
        self.lnf = nn.LayerNorm(D, eps=1e-8)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.xavier_uniform_(p)

    def forward(self, ids):
        n, w = ids.shape
        pad = ids == 0
        x = self.item(ids) * D ** 0.5 + self.pos(torch.arange(L - w, L))
        x = drop(x) * ~pad.unsqueeze(-1)
        causal = torch.triu(torch.ones(w, w, dtype=torch.bool), 1)
        eye = torch.eye(w, dtype=torch.bool)
        # Future or padded keys; a padded query keeps itself (no all-masked row, no NaN).
        mask = causal.unsqueeze(0) | (pad.unsqueeze(1) & ~eye)
        for blk in self.blocks:
            x = blk(x, mask) * ~pad.unsqueeze(-1)
        return self.lnf(x)


model = SASRec()
model.train()
opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
total = sum(int((c[0] != 0).sum()) for c in chunks)


def step():
    opt.zero_grad()
    for ids, pos, neg in chunks:
        h = model(ids)
        valid = ids != 0
        sp = (h * model.item(pos)).sum(-1)[valid]
        sn = (h * model.item(neg)).sum(-1)[valid]
        loss = (F.softplus(-sp).sum() + F.softplus(sn).sum()) / total
        loss.backward()
    opt.step()


warmup = steps // 5 + 2
for s in range(warmup + steps):
    if s == warmup:
        t0 = time.perf_counter()
    step()
ms = (time.perf_counter() - t0) * 1000 / steps
print(f"sasrec no_quant torch threads={threads} batch={B} chunks={nchunks} ms_per_step={ms:.3f}")
