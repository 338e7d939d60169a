"""PyTorch counterpart of `bench_step espcn [no_quant|lsq]`: ESPCN x3 (conv 5x5 1->64 tanh,
conv 3x3 64->32 tanh, conv 3x3 32->9, pixel shuffle 3), batch 64 of 17x17 LR patches
against 51x51 HR patches, MSE, Adam lr 1e-3 with conv3 at 1e-4. With `lsq`, every conv
gets LSQ fake quantizers on its input and weight (W4A4, straight-through round,
gradient-scaled step), as bench/torch_simple_cnn.py.
Prints "espcn QUANTIZER torch threads=N batch=B ms_per_step=X".
Usage: torch_espcn.py THREADS STEPS [no_quant|lsq]. Run with Debian's python3-torch."""
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


class Espcn(nn.Module):
    def __init__(self, r=3):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 5, padding=2)
        self.conv2 = nn.Conv2d(64, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, r * r, 3, padding=1)
        self.shuffle = nn.PixelShuffle(r)

    def forward(self, x):
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        return self.shuffle(self.conv3(x))


model = Espcn()
if quantizer == "lsq":
    model.conv1, model.conv2, model.conv3 = QConv(model.conv1), QConv(model.conv2), QConv(model.conv3)
last = [p for n, p in model.named_parameters() if n.startswith("conv3.")]
rest = [p for n, p in model.named_parameters() if not n.startswith("conv3.")]
opt = torch.optim.Adam([{"params": rest}, {"params": last, "lr": 1e-4}], lr=1e-3)
x = torch.rand(64, 1, 17, 17)
y = torch.rand(64, 1, 51, 51)
warmup = steps // 5 + 2
for s in range(warmup + steps):
    if s == warmup:
        t0 = time.perf_counter()
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
ms = (time.perf_counter() - t0) * 1000 / steps
print(f"espcn {quantizer} torch threads={threads} batch=64 ms_per_step={ms:.3f}")
