#!/usr/bin/env python3
"""gen_data_corpus.py — the seed inputs of the data loaders' fuzz harnesses
(fuzz_csv, fuzz_npz, fuzz_npyset, fuzz_cifar, fuzz_jpeg), written by
Python's own writers (csv, numpy, PIL) into tests/fuzz/corpus/<name>/.
Each seed starts with the harness's flag byte(s). Run from the repository
root with Debian's python3 (python3-numpy, python3-pil); the committed seeds
are its output (rerunning it rewrites them; the zip timestamps inside the
.npz seeds then differ, nothing else).
"""
import csv, io, os, struct
import numpy as np
from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = np.random.default_rng(7)


def put(name, seed, data):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, seed), "wb") as f:
        f.write(data)


def csv_bytes(header, rows, term="\n"):
    s = io.StringIO()
    w = csv.writer(s, lineterminator=term)
    w.writerow(header)
    w.writerows(rows)
    return s.getvalue().encode()


px = rng.integers(0, 256, (3, 4))
put("csv", "kaggle-2x2", b"\x00" + csv_bytes(["label"] + [f"pixel{i}" for i in range(4)], [[1] + list(r) for r in px]))
put("csv", "crlf-quoted-mid", b"\x00" + csv_bytes(["pixel1", "label", "pixel2", "pixel3", "pixel4"],
                                                 [[r[0], 2, r[1], r[2], r[3]] for r in px], term="\r\n").replace(b"label", b'"label"'))
put("csv", "unlabelled", b"\x00" + csv_bytes([f"pixel{i}" for i in range(4)], [list(r) for r in px]))
put("csv", "shape-2x2x2", b"\x01" + csv_bytes(["label"] + [f"pixel{i}" for i in range(8)], [[0] + list(rng.integers(0, 256, 8))]))
put("csv", "classes-3", b"\x02" + csv_bytes(["label", "pixel0"], [[2, 9], [0, 255]]))


def npz(**arrays):
    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


def npz_c(**arrays):
    b = io.BytesIO()
    np.savez_compressed(b, **arrays)
    return b.getvalue()


x = rng.integers(0, 256, (3, 2, 2), dtype=np.uint8)
y = np.array([0, 2, 1], dtype=np.uint8)
put("npz", "keras-stored", b"\x00" + npz(x_train=x, y_train=y, x_test=x[:1], y_test=y[:1]))
put("npz", "keras-deflated", b"\x00" + npz_c(x_train=x, y_train=y))
put("npz", "float-nhwc-xy", b"\x00" + npz(x=(x[..., None].repeat(3, 3) / 255).astype(np.float32), y=y.astype(np.int64)))
put("npz", "nchw-f8-layout", b"\x02" + npz(x_train=np.zeros((2, 3, 2, 3)), y_train=np.array([[1], [0]], dtype=">i2")))


def npy(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


for name, xi, yi in (("u8-nhw", x, y.astype(np.int32)), ("f4-nhwc", (x[..., None] / 255).astype(np.float32), y),
                     ("u8-unlabelled", x, None), ("nchw-bool-labels", x[:, None], y.astype(bool))):
    a = npy(xi)
    put("npyset", name, struct.pack("<H", len(a)) + a + (npy(yi) if yi is not None else b""))

rec = lambda lab: bytes([lab]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
put("cifar", "one-record", b"\x09" + rec(3))
put("cifar", "two-records", b"\x09" + rec(0) + rec(9))
put("cifar", "label-too-big", b"\x01" + rec(5))


def jpeg(mode, size, **kw):
    bands = {"L": 1, "RGB": 3, "CMYK": 4}[mode]
    a = rng.integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    im = Image.fromarray(a[..., 0] if bands == 1 else a, mode)
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


put("jpeg", "rgb-8x8", b"\x01" + jpeg("RGB", (8, 8), quality=50))
put("jpeg", "gray-9x7", b"\x00" + jpeg("L", (9, 7), quality=60))
put("jpeg", "progressive-16x12", b"\x01" + jpeg("RGB", (16, 12), quality=40, progressive=True))
put("jpeg", "cmyk-8x8", b"\x01" + jpeg("CMYK", (8, 8), quality=50))
put("jpeg", "420-17x11", b"\x00" + jpeg("RGB", (17, 11), quality=30, subsampling=2))
