"""PyTorch counterpart of `bench_step simple_cnn [no_quant|lsq]`: the same model, batch and
optimizer. With `lsq`, every conv/linear gets LSQ fake quantizers on its input, weight and
bias as the prototype's wrappers do (W4A4, straight-through round, gradient-scaled step).
Prints "simple_cnn QUANTIZER torch threads=N batch=B ms_per_step=X".
Usage: torch_simple_cnn.py THREADS STEPS [no_quant|lsq]. Run with Debian's python3-torch."""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
quantizer = sys.argv[3] if len(sys.argv) > 3 else "no_quant"
torch.set_num_threads(threads)
torch.manual_seed(0)


class Lsq(nn.Module):
    """LSQ fake quantizer (signed grid), step initialised from the first tensor seen."""

    def __init__(self, bits=4):
        super().__init__()
        self.qn, self.qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
        self.s = nn.Parameter(torch.ones(1))
        self.ready = False

    def forward(self, x):
        if not self.ready:
            with torch.no_grad():
                self.s.fill_(float(2 * x.abs().mean() / self.qp ** 0.5))
            self.ready = True
        g = 1.0 / (self.qp * x.numel()) ** 0.5
        s = (self.s - self.s * g).detach() + self.s * g
        t = torch.clamp(x / s, -self.qn, self.qp)
        t = (t.round() - t).detach() + t
        return t * s


class QConv(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.conv, self.qx, self.qw = conv, Lsq(), Lsq()

    def forward(self, x):
        c = self.conv
        return F.conv2d(self.qx(x), self.qw(c.weight), c.bias, c.stride, c.padding)


class QLinear(nn.Module):
    def __init__(self, fc):
        super().__init__()
        self.fc, self.qx, self.qw, self.qb = fc, Lsq(), Lsq(), Lsq()

    def forward(self, x):
        return F.linear(self.qx(x), self.qw(self.fc.weight), self.qb(self.fc.bias))


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=1, bias=False)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=5, bias=False)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        return self.fc(x.flatten(1))


model = SimpleCNN()
if quantizer == "lsq":
    model.conv1, model.conv2, model.fc = QConv(model.conv1), QConv(model.conv2), QLinear(model.fc)
opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.0)
x = torch.rand(500, 1, 28, 28)
y = torch.randint(0, 10, (500,))
warmup = steps // 5 + 2
for s in range(warmup + steps):
    if s == warmup:
        t0 = time.perf_counter()
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
ms = (time.perf_counter() - t0) * 1000 / steps
print(f"simple_cnn {quantizer} torch threads={threads} batch=500 ms_per_step={ms:.3f}")
