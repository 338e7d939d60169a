#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/) from small
cut-down pieces of the real data (../shared/data, described in docs/DATA.md) and the project's
configs. Python's standard library only; run from anywhere:

    python3 tests/fuzz/make_corpus.py [DATA_DIR]

Every seed starts with the harness's own header bytes (see each fuzz_*.c). Files this
script does not make (the reproducers of fixed bugs, the IMDB cache seed written by
FUZZ_DUMP_CACHE) are left alone."""
import gzip
import io
import os
import struct
import sys
import tarfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(ROOT), "shared", "data")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, 9, mtime=0)


# ---- config: the project's configs, as model + quantizer pairs and with --set lines ----

def configs():
    cdir = os.path.join(ROOT, "configs")
    read = lambda p: open(os.path.join(cdir, p), "rb").read()
    models = {"simple_cnn": "simple_cnn_default.yml", "lstm": "lstm_default.yml",
              "sasrec": "sasrec_default.yml", "espcn": "espcn_default.yml"}
    quants = sorted(os.listdir(os.path.join(cdir, "quantizer")))
    for i, (m, f) in enumerate(models.items()):
        body = b"#@" + m.encode() + b"\n" + read("model/" + f)
        put("fuzz_config", m + ".yml", body)
        q = quants[(3 * i) % len(quants)], quants[(3 * i + 1) % len(quants)]
        put("fuzz_config", m + "+" + q[0], body + b"\n#--file\n" + read("quantizer/" + q[0]))
        put("fuzz_config", m + "+" + q[1] + "+set", body + b"\n#--file\n" + read("quantizer/" + q[1]) +
            b"\n#--set\ntraining.epochs=2\ntraining.lr=[0.005, 0.01]\nquantizer.first_last=fp32\n")
    put("fuzz_config", "sasrec_prototype.yml", b"#@sasrec\n" + read("model/sasrec_prototype.yml"))
    put("fuzz_config", "flow.yml", b"#@simple_cnn\n{model: {}, training: {lr: [1e-3, 2.5e-2], epochs: 1},"
        b" quantizer: {first_last: 'b', per_channel: yes}}\n#--set\n quantizer.bit_width = [2,4] \n")
    put("fuzz_config", "quoted.yml", b"#@lstm\ndataset:\n  max_vocab_size: 100\ntraining:\n  bucket_window: 0\n"
        b"quantizer:\n  alpha_init: \"caf\\u00e9 \\t\\\"x\\\"\"\n  grid: 'it''s'\n")


# ---- idx: the first MNIST test images and labels ----

def idx():
    with gzip.open(os.path.join(DATA, "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        head = f.read(16 + 3 * 784)
    with gzip.open(os.path.join(DATA, "mnist", "t10k-labels-idx1-ubyte.gz")) as f:
        lab = f.read(8 + 3)
    images = head[:4] + struct.pack(">I", 3) + head[8:]
    labels = lab[:4] + struct.pack(">I", 3) + lab[8:]
    sep = b"#--labels\n"
    put("fuzz_idx", "plain", b"\x00" + images + sep + labels)
    put("fuzz_idx", "gzip-by-harness", b"\x03" + images + sep + labels)
    put("fuzz_idx", "gzip-in-input", b"\x00" + gz(images) + sep + gz(labels))
    # one image cut to 7x4 (a header that is not 28x28)
    small = bytes(head[16 + r * 28 + 10 + c] for r in range(7) for c in range(4))
    put("fuzz_idx", "7x4", b"\x01" + struct.pack(">IIII", 0x803, 1, 7, 4) + small + sep +
        struct.pack(">II", 0x801, 1) + lab[8:9])


# ---- tar + IMDB: a few short real reviews ----

def reviews():
    want = {f"aclImdb/{s}/{l}/": [] for s in ("train", "test") for l in ("neg", "pos")}
    extra = {}
    nonascii = None
    with tarfile.open(os.path.join(DATA, "aclImdb_v1_labelled.tar.gz"), "r|gz") as t:
        for m in t:
            if not m.isfile():
                continue
            if m.name in ("aclImdb/README", "aclImdb/train/urls_pos.txt"):
                extra[m.name] = t.extractfile(m).read()[:160]
                continue
            folder = m.name[:m.name.rfind("/") + 1]
            if folder in want and m.size < 420 and len(want[folder]) < 2:
                want[folder].append((m.name, t.extractfile(m).read()))
            elif folder in want and nonascii is None and m.size < 900:
                text = t.extractfile(m).read()
                if any(b > 127 for b in text):
                    nonascii = (m.name, text)
            if all(len(v) == 2 for v in want.values()) and len(extra) == 2 and nonascii:
                break
    return want, extra, nonascii


def tar_bytes(members, fmt=tarfile.USTAR_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1306886400, 0o644
            t.addfile(info, io.BytesIO(data))
    out = buf.getvalue().rstrip(b"\0")  # drop the record padding: keep the two zero blocks
    return out + bytes(-len(out) % 512 + 1024)


def tar_imdb():
    want, extra, nonascii = reviews()
    one = [v[0] for v in want.values()]
    two = [x for v in want.values() for x in v]
    opts = bytes([40, 1, 32])  # max_vocab 42, min_freq 2, max_seq_len 33
    # tar_foreach: plain, gzip, a GNU long name, a folder entry
    small = [one[0], one[3]]
    put("fuzz_imdb_tar", "tar", b"\x00\0\0\0" + tar_bytes(small))
    put("fuzz_imdb_tar", "tar-gz", b"\x01\0\0\0" + tar_bytes(small))
    long_name = "aclImdb/train/pos/" + "x" * 110 + "/0_9.txt"
    put("fuzz_imdb_tar", "tar-gnu-longname", b"\x00\0\0\0" + tar_bytes([(long_name, one[3][1][:60])], tarfile.GNU_FORMAT))
    put("fuzz_imdb_tar", "tar-pax", b"\x00\0\0\0" + tar_bytes([(long_name, one[2][1][:60])], tarfile.PAX_FORMAT))
    # the tokenizer: real review text
    put("fuzz_imdb_tar", "text", b"\x02\0\0\0" + one[1][1])
    put("fuzz_imdb_tar", "text-nonascii", b"\x02\0\0\0" + nonascii[1])
    # imdb_load: the aclImdb layout with README and urls files, plain and gzip, strip_br
    layout = [(n, d) for n, d in extra.items()] + two
    put("fuzz_imdb_tar", "imdb", b"\x03" + opts + tar_bytes(layout))
    put("fuzz_imdb_tar", "imdb-gz-strip", bytes([3 | 8 | 16]) + opts + tar_bytes(one + [nonascii]))


# ---- interactions: MovieLens-100K and Beauty, in the three formats ----

def interactions():
    rows = []
    with open(os.path.join(DATA, "recsys", "ml-100k", "u.data")) as f:
        for line in f:
            u, i, r, t = map(int, line.split())
            if u in (1, 2, 5) and sum(1 for x in rows if x[0] == u) < 7:
                rows.append((u, i, r, t))
            if len(rows) == 21:
                break
    rows.sort(key=lambda x: (x[0], x[3]))
    ml = "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows).encode()
    ui = "".join(f"{u} {i}\n" for u, i, r, t in rows).encode()
    tifu = "CUSTOMER_ID,ORDER_NUMBER,MATERIAL_NUMBER\n" + "".join(
        f"{u},{t // 86400 - 10000},{i}\n" for u, i, r, t in rows)
    put("fuzz_interactions", "ml_ratings", b"\x02" + ml)
    put("fuzz_interactions", "ml_ratings-auto-gz", b"\x04" + ml)
    put("fuzz_interactions", "user_item", b"\x01" + ui)
    put("fuzz_interactions", "tifu_csv", b"\x03" + tifu.encode())
    put("fuzz_interactions", "tifu_csv-auto", b"\x00" + tifu.encode())
    with gzip.open(os.path.join(DATA, "recsys", "beauty", "Beauty.txt.gz")) as f:
        beauty = b"".join(f.readline() for _ in range(24))
    put("fuzz_interactions", "beauty-auto", b"\x00" + beauty)
    put("fuzz_interactions", "beauty-in-gz", b"\x01" + gz(beauty))


# ---- images: crops of Set5/Set14 (PNG) and T91 (BMP) ----

def png_read(data):
    """8-bit, non-interlaced PNG (all the data's PNGs) -> (w, h, channels, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (0, 2)
            ch = 1 if ctype == 0 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - ch] if x >= ch else 0
            b, c = prev[x], prev[x - ch] if x >= ch else 0
            p = a + b - c
            pred = [0, a, b, (a + b) // 2,
                    a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c][f]
            line[x] = (line[x] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def crop(img, x0, y0, cw, chh):
    w, h, ch, rows = img
    return cw, chh, ch, [rows[y][x0 * ch:(x0 + cw) * ch] for y in range(y0, y0 + chh)]


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


def png_write(w, h, ctype, depth, rows, plte=None, trns=None, interlace=0, filters=(0,)):
    """rows: the packed sample bytes of each row (for interlace 1, the full image's rows, 8-bit only)."""
    bpp = max(1, {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype] * depth // 8)
    def encode(rs):
        out, prev = b"", bytes(len(rs[0])) if rs else b""
        for k, r in enumerate(rs):
            f = filters[k % len(filters)]
            line = bytearray(r)
            for x in range(len(r)):
                a = r[x - bpp] if x >= bpp else 0
                b, c = prev[x], prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pred = [0, a, b, (a + b) // 2,
                        a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c][f]
                line[x] = (r[x] - pred) & 255
            out += bytes([f]) + bytes(line)
            prev = r
        return out
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
            sub = [b"".join(rows[y][x * bpp:(x + 1) * bpp] for x in range(x0, w, dx)) for y in range(y0, h, dy)]
            if sub and sub[0]:
                raw += encode(sub)
    else:
        raw = encode(rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
    if plte:
        out += chunk(b"PLTE", plte)
    if trns:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def bmp_read(data):
    off, = struct.unpack("<I", data[10:14])
    w, h, planes, bits = struct.unpack("<iiHH", data[18:30])
    assert bits == 24
    stride = (w * 3 + 3) & ~3
    rows = [data[off + (h - 1 - y) * stride:off + (h - 1 - y) * stride + w * 3] for y in range(h)]
    return w, h, 3, [bytes(r) for r in rows]  # BGR, as stored


def bmp_write(w, h, bits, rows, palette=None, top_down=False):
    """rows top first; 24-bit rows are BGR, 8-bit rows palette indices, 32-bit BGRA."""
    stride = (w * bits // 8 + 3) & ~3
    pal = palette or b""
    off = 54 + len(pal)
    pix = b"".join((rows[y] if top_down else rows[h - 1 - y]).ljust(stride, b"\0") for y in range(h))
    head = b"BM" + struct.pack("<IHHI", off + len(pix), 0, 0, off)
    info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bits, 0, len(pix), 2835, 2835,
                       len(pal) // 4, 0)
    return head + info + pal + pix


def images():
    bird = png_read(open(os.path.join(DATA, "sr", "Set5", "bird.png"), "rb").read())
    bridge = png_read(open(os.path.join(DATA, "sr", "Set14", "bridge.png"), "rb").read())
    with tarfile.open(os.path.join(DATA, "sr", "yang91.tar.gz"), "r|gz") as t:
        for m in t:
            if m.isfile() and m.name.endswith(".bmp"):
                t91 = bmp_read(t.extractfile(m).read())
                break
    rgb = crop(bird, 120, 100, 16, 16)
    gray = crop(bridge, 200, 200, 16, 16)
    odd = crop(bird, 60, 60, 15, 17)
    bgr = crop(t91, 10, 10, 16, 16)
    seeds = {}
    seeds["rgb.png"] = png_write(16, 16, 2, 8, rgb[3], filters=(0, 1, 2, 3, 4))
    seeds["gray.png"] = png_write(16, 16, 0, 8, gray[3], filters=(4, 2))
    seeds["odd-15x17.png"] = png_write(15, 17, 2, 8, odd[3], filters=(1,))
    seeds["rgba.png"] = png_write(12, 12, 6, 8, [b"".join(r[3 * x:3 * x + 3] + b"\xff" for x in range(12)) for r in rgb[3][:12]])
    seeds["gray-alpha.png"] = png_write(12, 12, 4, 8, [b"".join(bytes([v, 200]) for v in r[:12]) for r in gray[3][:12]])
    seeds["rgb16.png"] = png_write(8, 8, 2, 16, [bytes(b for v in r[:24] for b in (v, v)) for r in rgb[3][:8]])
    # a palette of 16 grays, with transparency for two entries
    pal = b"".join(bytes([17 * i] * 3) for i in range(16))
    seeds["palette.png"] = png_write(16, 16, 3, 8, [bytes(v // 17 if v < 255 else 15 for v in r) for r in gray[3]],
                                     plte=pal, trns=b"\x00\x80")
    seeds["gray4.png"] = png_write(16, 16, 0, 4, [bytes((r[2 * x] >> 4) << 4 | r[2 * x + 1] >> 4 for x in range(8)) for r in gray[3]])
    seeds["gray1.png"] = png_write(16, 16, 0, 1, [bytes(sum((r[8 * x + k] > 127) << (7 - k) for k in range(8)) for x in range(2)) for r in gray[3]])
    seeds["interlaced.png"] = png_write(16, 16, 2, 8, rgb[3], interlace=1)
    seeds["t91.bmp"] = bmp_write(16, 16, 24, bgr[3])
    seeds["t91-topdown.bmp"] = bmp_write(15, 5, 24, [r[:45] for r in bgr[3][:5]], top_down=True)
    seeds["gray8.bmp"] = bmp_write(16, 16, 8, gray[3], palette=b"".join(bytes([i, i, i, 0]) for i in range(256)))
    seeds["bgra32.bmp"] = bmp_write(8, 8, 32, [b"".join(r[3 * x:3 * x + 3] + b"\xff" for x in range(8)) for r in bgr[3][:8]])
    for name, data in seeds.items():
        put("fuzz_image", name, data)
    # sr: a cache, an image archive and an image folder
    for k, name in enumerate(["rgb.png", "gray.png", "t91.bmp"]):
        put("fuzz_sr", "dir-" + name, bytes([2 | (4 if name.endswith(".bmp") else 0), k]) + seeds[name])
    members = [("set/" + n, seeds[n]) for n in ("rgb.png", "gray.png", "t91.bmp", "odd-15x17.png")]
    members.append(("set/._rgb.png", b"resource fork"))
    members.append(("set/README", b"not an image"))
    put("fuzz_sr", "tar-x3", bytes([1, 2]) + tar_bytes(members))
    put("fuzz_sr", "tar-gz-x2", bytes([1 | 4, 1]) + tar_bytes(members[:2]))
    for scale, gray_y in ((3, 1), (2, 0)):
        imgs = [("bird", rgb[3], 3), ("bridge", gray[3], 1)]
        body = b"QSR1" + struct.pack("<Q", 0x5eed + scale) + struct.pack("<iii", scale, gray_y, len(imgs))
        for name, rows, ch in imgs:
            h = w = 16 - 16 % scale
            y = bytes(r[ch * x] for r in rows[:h] for x in range(w))
            lr = [sum(y[(i * scale + a) * w + j * scale + b] for a in range(scale) for b in range(scale)) / (255.0 * scale * scale)
                  for i in range(h // scale) for j in range(w // scale)]
            body += struct.pack("<iii", h, w, len(name)) + name.encode() + y + struct.pack("<%df" % len(lr), *lr)
        body += b"END1"
        opt = (scale - 1) | (gray_y << 2)
        put("fuzz_sr", f"cache-x{scale}", bytes([0, opt]) + body)
        put("fuzz_sr", f"cache-x{scale}-preloaded", bytes([0, opt | 8]) + body)


if __name__ == "__main__":
    configs()
    idx()
    tar_imdb()
    interactions()
    images()
