"""PyTorch counterpart of `bench_step lstm no_quant`: one training step (forward,
backward, AdamW) of the prototype's BiLSTM (models/lstm.py: embedding 256, nn.LSTM 2
layers bidirectional H 256 on packed sequences, dropout 0.2/0.1, linear 512 -> 2) on the
same batch of 32 IMDB training reviews as the C side.

The batch is read from qat's tokenized cache (data/cache/imdb-*.bin, written by the first
qat run; format in src/data/imdb.c) and chosen as bench_step does: the training reviews
shuffled by qat's xoshiro256** generator seeded with 2 (src/core/rng.c), first 32. So
both sides see the same token ids and lengths.

PyTorch's step takes 10-45 s here, so only a few steps are timed (the fastest counts).
Prints "lstm no_quant torch threads=N batch=B tokens=T ms_per_step=X".
Usage: torch_lstm.py THREADS STEPS [CACHE_FILE]; STEPS = 0 prints only the batch's
token count (no torch needed). Run with Debian's python3-torch."""
import array
import glob
import os
import struct
import sys
import time

M64 = (1 << 64) - 1


class QatRng:
    """src/core/rng.c: splitmix64 seeding, xoshiro256**, Lemire's bounded draw."""

    def __init__(self, seed):
        x, self.s = seed, []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def u64(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def below(self, n):
        m = self.u64() * n
        if (m & M64) < n:
            t = ((1 << 64) - n) % n
            while (m & M64) < t:
                m = self.u64() * n
        return m >> 64

    def shuffle(self, idx):
        for i in range(len(idx), 1, -1):
            j = self.below(i)
            idx[i - 1], idx[j] = idx[j], idx[i - 1]


def read_cache(path):
    """(vocab_size, train reviews as lists of ids, train labels)"""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"QIMDB002":
        sys.exit("%s: not a qat IMDB cache (QIMDB002)" % path)
    pos = 8 + 64
    vocab, _, _, _ = struct.unpack_from("<4q", data, pos)
    pos += 32
    for _ in range(vocab):
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4 + n
    (n,) = struct.unpack_from("<q", data, pos)
    pos += 8
    labels = array.array("i", data[pos : pos + 4 * n])
    pos += 4 * n
    lens = array.array("i", data[pos : pos + 4 * n])
    pos += 4 * n
    toks = array.array("i", data[pos : pos + 4 * sum(lens)])
    reviews, off = [], 0
    for L in lens:
        reviews.append(toks[off : off + L])
        off += L
    return vocab, reviews, list(labels)


def make_model(vocab_size, emb=256, hidden=256, layers=2, dropout=0.2, emb_dropout=0.1):
    """The prototype's models/lstm.py (defaults of lstm_default.yml)."""
    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pack_padded_sequence

    class LSTMModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, emb, padding_idx=0)
            self.embedding_dropout = nn.Dropout(emb_dropout)
            self.lstm = nn.LSTM(emb, hidden, num_layers=layers, dropout=dropout, batch_first=True,
                                bidirectional=True)
            self.feature_dropout = nn.Dropout(dropout)
            self.classifier = nn.Linear(2 * hidden, 2)

        def forward(self, ids, lengths):
            x = self.embedding_dropout(self.embedding(ids))
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            h = h.view(layers, 2, ids.size(0), hidden)[-1]
            return self.classifier(self.feature_dropout(torch.cat((h[0], h[1]), dim=-1)))

    return LSTMModel()


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if len(sys.argv) > 3:
        cache = sys.argv[3]
    else:
        root = os.environ.get("QAT_DATA_DIR", "data")
        found = sorted(glob.glob(os.path.join(root, "cache", "imdb-*.bin")), key=os.path.getmtime)
        if not found:
            sys.exit("no IMDB cache under %s/cache: run build/bench_step lstm once first" % root)
        cache = found[-1]
    vocab, reviews, labels = read_cache(cache)
    order = list(range(len(reviews)))
    QatRng(2).shuffle(order)
    batch = order[:32]
    if steps == 0:
        print("tokens=%d" % sum(len(reviews[i]) for i in batch))
        return
    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pad_sequence

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as qat (denormals slowed PyTorch's LSTM ~2.5x here)
    torch.manual_seed(0)
    seqs = [torch.tensor(list(reviews[i]), dtype=torch.long) for i in batch]
    lengths = torch.tensor([len(s) for s in seqs])
    ids = pad_sequence(seqs, batch_first=True, padding_value=0)
    y = torch.tensor([labels[i] for i in batch])
    model = make_model(vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    model.train()
    best = float("inf")
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(ids, lengths), y)
        loss.backward()
        opt.step()
        best = min(best, time.perf_counter() - t0)
    print("lstm no_quant torch threads=%d batch=%d tokens=%d ms_per_step=%.1f"
          % (threads, len(batch), int(lengths.sum()), best * 1000.0))


if __name__ == "__main__":
    main()
