#!/usr/bin/python3
"""Reference fixtures for the super-resolution pipeline (tests/unit/test_sr.c): MATLAB's
bicubic imresize and rgb2ycbcr, re-implemented here in float64 numpy from MATLAB's
imresize.m (contributions(), cubic(), 'symmetric' borders, antialiasing when shrinking).

Regenerate (from the repository root; Debian's python3-numpy and python3-torch, since the
writer of scripts/gen_fixtures.py is reused):

    /usr/bin/python3 scripts/gen_fixtures_sr.py          # tests/fixtures/sr_*.bin

Same file format as scripts/gen_fixtures.py. Files:

    sr_imresize.bin   case <k> in down3, up3, down2, odd, ramp:
                      <k>_in [h, w], <k>_out [ho, wo], <k>_scale (the factor given to
                      imresize: 1/3, 3, 1/2, ...)
    sr_ycbcr.bin      rgb [n, 3] (0..255 values), y [n] (Y in 16..235, float64 -> f32)

Run with an image path to print MATLAB-style numbers for it instead (a cross-check of the
C pipeline): gen_fixtures_sr.py --psnr-bicubic DIR  prints the bicubic x3 PSNR of every PNG
in DIR (needs PIL).
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_fixture  # noqa: E402  (same format, same folder)


def cubic(x):
    """MATLAB imresize's cubic kernel (a = -0.5)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def contributions(in_len, out_len, scale):
    """Weights [out_len, P] and 0-based input indices, as imresize.m's contributions()."""
    width = 4.0
    if scale < 1:
        kernel = lambda x: scale * cubic(scale * x)  # noqa: E731  (antialiasing)
        width = width / scale
    else:
        kernel = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]          # 1-based
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
    idx = aux[np.mod(idx.astype(np.int64) - 1, len(aux))] - 1
    keep = np.any(w != 0, axis=0)
    return w[:, keep], idx[:, keep]


def resize_dim(a, axis, out_len, scale):
    w, idx = contributions(a.shape[axis], out_len, scale)
    a = np.moveaxis(a, axis, 0)
    out = np.einsum("op,op...->o...", w, a[idx])
    return np.moveaxis(out, 0, axis)


def imresize(a, scale, out_shape=None):
    """Bicubic imresize of a 2-D float64 array by one factor for both dimensions. MATLAB
    resizes the dimension with the smaller factor first; with equal factors, rows first."""
    if out_shape is None:
        out_shape = (int(math.ceil(a.shape[0] * scale)), int(math.ceil(a.shape[1] * scale)))
    a = resize_dim(a, 0, out_shape[0], scale)
    return resize_dim(a, 1, out_shape[1], scale)


def rgb2y(rgb):
    """MATLAB rgb2ycbcr Y for 0..255 values, on the 16..235 scale (not rounded)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def fx_imresize(rng):
    arrays = []
    cases = [
        ("down3", rng.random((12, 15)), 1 / 3),
        ("up3", rng.random((5, 4)), 3.0),
        ("down2", rng.random((8, 10)), 1 / 2),
        ("odd", rng.random((7, 11)), 1 / 3),   # not a multiple: ceil(7/3) x ceil(11/3)
        ("ramp", np.add.outer(np.arange(9.0), 2 * np.arange(6.0)) / 30.0, 1 / 3),
    ]
    for name, a, s in cases:
        a = f32(a)
        out = imresize(a, s)
        arrays += [(name + "_in", a), (name + "_out", out), (name + "_scale", np.float64(s))]
    return arrays


def fx_ycbcr():
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0],
                    [128, 64, 32], [17, 200, 99]], dtype=np.float64)
    return [("rgb", rgb), ("y", rgb2y(rgb))]


def psnr_y(sr01, hr255, border):
    """BASELINES: SR clipped to [0,1], x255, rounded; against the 8-bit HR Y; border cut."""
    sr = np.round(np.clip(sr01, 0, 1) * 255)
    d = (sr - hr255)[border:-border, border:-border]
    return 10 * math.log10(255.0 ** 2 / np.mean(d * d))


def bicubic_psnr_dir(folder, scale=3):
    from PIL import Image
    vals = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".png"):
            continue
        im = np.asarray(Image.open(os.path.join(folder, name)), dtype=np.float64)
        y = rgb2y(im) if im.ndim == 3 else 16.0 + 219.0 * im / 255.0
        y = np.floor(y + 0.5)                    # uint8, as rgb2ycbcr on uint8 input
        h, w = y.shape[0] - y.shape[0] % scale, y.shape[1] - y.shape[1] % scale
        y = y[:h, :w]
        lr = imresize(y / 255.0, 1 / scale)
        up = imresize(lr, scale, (h, w))
        p = psnr_y(up, y, scale)
        vals.append(p)
        print(f"{name}: {p:.4f} dB")
    print(f"mean {np.mean(vals):.4f} dB over {len(vals)}")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--psnr-bicubic":
        bicubic_psnr_dir(sys.argv[2])
        return 0
    rng = np.random.default_rng(20240612)
    for name, arrays in [("sr_imresize", fx_imresize(rng)), ("sr_ycbcr", fx_ycbcr())]:
        path, size = write_fixture(name, arrays)
        print(f"{path}: {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
