"""PyTorch counterpart of bench_step simple_cnn: the same model, batch and optimizer.
Prints "simple_cnn torch threads=N batch=B ms_per_step=X". Run with Debian's python3-torch
(OpenBLAS build)."""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
torch.set_num_threads(threads)
torch.manual_seed(0)


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
print(f"simple_cnn torch threads={threads} batch=500 ms_per_step={ms:.3f}")
