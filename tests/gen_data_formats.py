#!/usr/bin/env python3
"""gen_data_formats.py OUT — small data sets in every format deepc reads,
written by Python's own writers, and what Python's own readers read back
from them, for tests/test_data_formats.c to compare deepc's loaders with.

Writers and readers: the csv module (CSV), numpy (np.savez, np.savez_compressed,
np.save; np.load), a few lines of NumPy for CIFAR-10's binary records, PIL for
PNG/JPEG/PPM (and, when python3-torchvision is installed, torchvision's
ImageFolder with Resize, whose order and pixels must agree with PIL's).

OUT/manifest.json lists the cases:
  {"name", "kind": "ok", "spec": path, "options": {...},
   "splits": [{"n","c","h","w","n_classes","unlabelled","classes": [...] or null,
               "pixels": raw uint8 (N,C,H,W) file, "labels": raw int32 LE file,
               "skipped"}]}
  {"name", "kind": "error", "spec": path, "options": {...}, "needle": text the
   message must contain (the file at fault)}
Options use dc_data_options' names (channels, height, width, shape, layout,
skip_bad, classes). Exit status 3 when numpy or PIL is missing (the test then
says SKIPPED).
"""
import csv
import gzip
import io
import json
import os
import struct
import sys

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # the C test reports the skip
    print(f"missing {e.name}: apt-get install python3-numpy python3-pil", file=sys.stderr)
    sys.exit(3)

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20240508)
cases = []


def path(*p):
    q = os.path.join(OUT, *p)
    os.makedirs(os.path.dirname(q), exist_ok=True)
    return q


def split_record(name, x, y, n_classes, classes=None, unlabelled=False, skipped=0):
    """x: uint8 (N,C,H,W), y: int (N)."""
    x = np.ascontiguousarray(x, dtype=np.uint8)
    px, lb = path("expect", name + ".u8"), path("expect", name + ".i32")
    x.tofile(px)
    np.asarray(y, dtype="<i4").tofile(lb)
    n, c, h, w = x.shape
    return {"n": n, "c": c, "h": h, "w": w, "n_classes": n_classes, "unlabelled": unlabelled,
            "classes": classes, "pixels": px, "labels": lb, "skipped": skipped}


def ok(name, spec, splits, **options):
    cases.append({"name": name, "kind": "ok", "spec": spec, "options": options, "splits": splits})


def error(name, spec, needle, **options):
    cases.append({"name": name, "kind": "error", "spec": spec, "options": options, "needle": needle})


def n_classes_of(*ys):
    return max(2, max(int(np.max(y)) for y in ys) + 1)


# ---------------------------------------------------------------------------
# CSV: written with csv.writer, read back with csv.reader

def write_csv(p, header, rows, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL):
    with open(p, "w", newline="") as f:
        wr = csv.writer(f, lineterminator=lineterminator, quoting=quoting)
        wr.writerow(header)
        wr.writerows(rows)


def read_csv(p):
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if r]
    lab = header.index("label") if "label" in header else None
    pix = [i for i, h in enumerate(header) if h != "label"]
    x = np.array([[int(r[i]) for i in pix] for r in body], dtype=np.uint8)
    y = np.array([int(r[lab]) for r in body] if lab is not None else [0] * len(body))
    return x, y, lab is None


x = rng.integers(0, 256, (37, 16), dtype=np.uint8)
y = rng.integers(0, 5, 37)
p = path("csv", "train.csv")  # Kaggle layout: label first, \r\n (the csv module's default)
write_csv(p, ["label"] + [f"pixel{i}" for i in range(16)], [[int(a)] + [int(v) for v in r] for a, r in zip(y, x)])
rx, ry, _ = read_csv(p)
ok("csv kaggle", p, [split_record("csv_kaggle", rx.reshape(-1, 1, 4, 4), ry, n_classes_of(ry))])

p = path("csv", "mid.csv")  # label in the middle, pixel1..pixelN (Kaggle's Fashion-MNIST CSVs), every field quoted
hdr = [f"pixel{i + 1}" for i in range(16)]
hdr.insert(7, "label")
rows = []
for a, r in zip(y, x):
    row = [str(int(v)) for v in r]
    row.insert(7, str(int(a)))
    rows.append(row)
write_csv(p, hdr, rows, lineterminator="\n", quoting=csv.QUOTE_ALL)
rx, ry, _ = read_csv(p)
ok("csv label in the middle, quoted, 1-based", p, [split_record("csv_mid", rx.reshape(-1, 1, 4, 4), ry, n_classes_of(ry))])

p = path("csv", "test.csv")  # Kaggle's test.csv: no label column; a blank line at the end
write_csv(p, [f"pixel{i}" for i in range(16)], [[int(v) for v in r] for r in x[:9]])
with open(p, "a") as f:
    f.write("\n")
rx, ry, unl = read_csv(p)
ok("csv unlabelled", p, [split_record("csv_unlabelled", rx.reshape(-1, 1, 4, 4), ry, 2, unlabelled=True)])

x3 = rng.integers(0, 256, (6, 2 * 3 * 5), dtype=np.uint8)  # colour, 2x3x5 in C,H,W order
y3 = rng.integers(0, 3, 6)
p = path("csv", "shape.csv")
write_csv(p, ["label"] + [f"pixel{i}" for i in range(30)], [[int(a)] + [int(v) for v in r] for a, r in zip(y3, x3)])
rx, ry, _ = read_csv(p)
ok("csv --input-shape 2,3,5", p, [split_record("csv_shape", rx.reshape(-1, 2, 3, 5), ry, n_classes_of(ry))],
   shape=[2, 3, 5])
names = ["zero", "one", "two", "three", "four", "five"]
p2 = path("csv", "classes.txt")
with open(p2, "w") as f:
    f.write("\n".join(names) + "\n\n")
rx, ry, _ = read_csv(path("csv", "train.csv"))
ok("csv --classes FILE", path("csv", "train.csv"),
   [split_record("csv_names", rx.reshape(-1, 1, 4, 4), ry, 6, classes=names)], classes=p2)

hdr16 = ["label"] + [f"pixel{i}" for i in range(16)]
good_rows = [[int(a)] + [int(v) for v in r] for a, r in zip(y[:5], x[:5])]


def bad_csv(name, rows, needle, header=hdr16, raw=None, **opt):
    p = path("csv", "bad", name + ".csv")
    if raw is not None:
        with open(p, "wb") as f:
            f.write(raw)
    else:
        write_csv(p, header, rows)
    error("csv " + name, p, needle, **opt)


bad_csv("ragged", good_rows[:2] + [good_rows[2][:-1]] + good_rows[3:], "line 4 has 16 fields")
bad_csv("nonnumeric", good_rows[:3] + [good_rows[3][:5] + ["x7"] + good_rows[3][6:]], "line 5, column 6 (pixel4)")
bad_csv("range", good_rows[:1] + [good_rows[1][:3] + [256] + good_rows[1][4:]], "256 is outside 0..255")
bad_csv("neglabel", good_rows[:4] + [[-1] + good_rows[4][1:]], "line 6: label -1 is negative")
bad_csv("bigclass", good_rows[:2] + [[4] + good_rows[2][1:]] + good_rows[3:], "line 4: label 4 is outside the 3 classes",
        classes="3")
bad_csv("notsquare", [r[:13] for r in good_rows], "12 pixel columns, which is not a square",
        header=hdr16[:13])
bad_csv("headeronly", [], "has a header but no rows")
bad_csv("empty", None, "is empty (0 bytes)", raw=b"")
bad_csv("binary", None, "NUL byte", raw=b"label,pixel0\n1,\x00\x01\n")
bad_csv("column", good_rows, "column 3 is 'pxl1'", header=["label", "pixel0", "pxl1"] + hdr16[3:])
bad_csv("order", good_rows, "expected 'pixel2'", header=hdr16[:3] + ["pixel3", "pixel2"] + hdr16[5:])
bad_csv("gzip", None, "gzip-compressed", raw=gzip.compress(b"label,pixel0\n1,2\n"))
bad_csv("quote", None, "unclosed quote", raw=b'label,pixel0\n1,"2\n')
bad_csv("strayquote", None, "line 3", raw=b'label,pixel0\n1,2\n3,4"5\n6,7\n')
bad_csv("emptycell", good_rows[:1] + [good_rows[1][:4] + [""] + good_rows[1][5:]], "line 3, column 5 (pixel3): empty cell")

# ---------------------------------------------------------------------------
# NumPy: np.savez / np.savez_compressed / np.save, read back with np.load


def as_bytes(a):
    a = np.asarray(a)
    return a if a.dtype == np.uint8 else np.floor(a.astype(np.float64) * 255.0 + 0.5).astype(np.uint8)


xtr = rng.integers(0, 256, (20, 7, 6), dtype=np.uint8)
ytr = rng.integers(0, 10, 20).astype(np.uint8)
xte = rng.integers(0, 256, (8, 7, 6), dtype=np.uint8)
yte = rng.integers(0, 9, 8).astype(np.uint8)
p = path("npz", "keras.npz")  # Keras's mnist.npz layout, compressed
np.savez_compressed(p, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
d = np.load(p)
nc = n_classes_of(d["y_train"], d["y_test"])
ok("npz keras layout", p, [split_record("npz_tr", d["x_train"][:, None], d["y_train"], nc),
                           split_record("npz_te", d["x_test"][:, None], d["y_test"], nc)])

xf = rng.integers(0, 256, (9, 5, 4, 3)).astype(np.float32) / 255  # float NHWC in [0,1]
yf = rng.integers(0, 4, 9).astype(np.int64)
xf[0, 0, 0, 0], xf[1, 2, 3, 1] = 0.0, 1.0
p = path("npz", "float_nhwc.npz")  # x/y keys, stored (not compressed)
np.savez(p, x=xf, y=yf)
d = np.load(p)
ok("npz float NHWC, x/y", p, [split_record("npz_f", as_bytes(d["x"]).transpose(0, 3, 1, 2), d["y"], n_classes_of(d["y"]))])

xa = rng.random((4, 3, 4, 3))  # float64 (N,3,4,3): both axes could be channels
ya = np.array([[1], [0], [2], [1]], dtype=">i2")  # (N,1), big-endian int16
p = path("npz", "ambiguous.npz")
np.savez(p, x_train=xa, y_train=ya)
error("npz ambiguous layout", p, "--layout nhwc or --layout nchw")
d = np.load(p)
ok("npz --layout nchw", p, [split_record("npz_nchw", as_bytes(d["x_train"]), d["y_train"][:, 0], 3)], layout="nchw")
ok("npz --layout nhwc", p, [split_record("npz_nhwc", as_bytes(d["x_train"]).transpose(0, 3, 1, 2), d["y_train"][:, 0], 3)],
   layout="nhwc")

folder = os.path.join(OUT, "npy")  # a folder of .npy pairs, NHWC with C=1, int32 (N,1) labels
np.save(path("npy", "x_train.npy"), xtr[..., None])
np.save(path("npy", "y_train.npy"), ytr.astype(np.int32)[:, None])
np.save(path("npy", "x_test.npy"), xte[..., None])
np.save(path("npy", "y_test.npy"), yte.astype(np.int32))
a, b = np.load(path("npy", "x_train.npy")), np.load(path("npy", "y_train.npy"))
c, e = np.load(path("npy", "x_test.npy")), np.load(path("npy", "y_test.npy"))
nc = n_classes_of(b, e)
ok("npy folder", folder, [split_record("npy_tr", a.transpose(0, 3, 1, 2), b[:, 0], nc),
                          split_record("npy_te", c.transpose(0, 3, 1, 2), e, nc)])


def bad_npz(name, needle, raw=None, **arrays):
    p = path("npz", "bad", name + ".npz")
    if raw is not None:
        with open(p, "wb") as f:
            f.write(raw)
    else:
        np.savez(p, **arrays)
    error("npz " + name, p, needle)


good = io.BytesIO()
np.savez_compressed(good, x_train=xtr, y_train=ytr)
p = path("npz", "bad", "truncated.npz")
with open(p, "wb") as f:
    f.write(good.getvalue()[: len(good.getvalue()) * 2 // 3])
error("npz truncated", p, "truncated.npz")
p = path("npz", "bad", "flipped.npz")  # a flipped byte in the deflated data: the CRC must catch it
raw = bytearray(good.getvalue())
raw[80] ^= 0x40
with open(p, "wb") as f:
    f.write(bytes(raw))
error("npz corrupt", p, "flipped.npz")
bad_npz("noy", "has x_train but no y_train", x_train=xtr)
bad_npz("int16", "dtype '<i2'", x_train=xtr.astype(np.int16), y_train=ytr)
bad_npz("range", "must hold values in [0,1]", x_train=xtr.astype(np.float32), y_train=ytr)
xn = xf.copy()
xn[3, 1, 1, 1] = np.nan
bad_npz("nan", "is nan", x=xn, y=yf)
bad_npz("onehot", "look one-hot", x_train=xtr, y_train=np.eye(10)[ytr])
bad_npz("count", "19 labels for the 20 images", x_train=xtr, y_train=ytr[:19])
bad_npz("floatlabels", "expected integers", x_train=xtr, y_train=ytr.astype(np.float32))
bad_npz("neglabel", "is negative", x_train=xtr, y_train=np.where(np.arange(20) == 4, -2, ytr.astype(np.int64)))
bad_npz("empty", "is empty", raw=b"")
bad_npz("text", "not a readable .npz", raw=b"hello, this is not a zip file at all\n" * 4)
bad_npz("none", "no x_train.npy/y_train.npy", images=xtr)
p = path("npybad", "x_train.npy")
np.save(p, xtr)
with open(p, "r+b") as f:
    f.truncate(os.path.getsize(p) - 7)
np.save(path("npybad", "y_train.npy"), ytr)
error("npy truncated", os.path.join(OUT, "npybad"), "truncated file?")

# ---------------------------------------------------------------------------
# CIFAR-10 binary: records of 1 label byte + 3072 pixel bytes


def cifar_records(n, max_label=10):
    lab = rng.integers(0, max_label, n).astype(np.uint8)
    img = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return np.concatenate([lab[:, None], img], axis=1).tobytes()


def read_cifar(p):  # the usual reader: np.fromfile, reshape(-1, 3073)
    r = np.fromfile(p, dtype=np.uint8).reshape(-1, 3073)
    return r[:, 1:].reshape(-1, 3, 32, 32), r[:, 0].astype(np.int32)


cnames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
cdir = os.path.join(OUT, "cifar")
for i, n in ((1, 5), (2, 3)):
    with open(path("cifar", f"data_batch_{i}.bin"), "wb") as f:
        f.write(cifar_records(n))
with open(path("cifar", "test_batch.bin"), "wb") as f:
    f.write(cifar_records(4))
with open(path("cifar", "batches.meta.txt"), "w") as f:
    f.write("\n".join(cnames) + "\n\n\n")  # as the real file: blank lines at the end
a1, l1 = read_cifar(path("cifar", "data_batch_1.bin"))
a2, l2 = read_cifar(path("cifar", "data_batch_2.bin"))
at, lt = read_cifar(path("cifar", "test_batch.bin"))
ok("cifar-10 binary", cdir, [split_record("cifar_tr", np.concatenate([a1, a2]), np.concatenate([l1, l2]), 10, classes=cnames),
                             split_record("cifar_te", at, lt, 10, classes=cnames)])
for name, data, needle in (("truncated", cifar_records(3)[:-5], "truncated one (record 2)"),
                           ("label", cifar_records(2)[:3073] + bytes([12]) + cifar_records(1)[1:], "record 1 has label 12"),
                           ("empty", b"", "is empty")):
    with open(path("cifarbad_" + name, "data_batch_1.bin"), "wb") as f:
        f.write(data)
    error("cifar " + name, os.path.join(OUT, "cifarbad_" + name), "data_batch_1.bin")
    cases[-1]["needle2"] = needle

# ---------------------------------------------------------------------------
# Image folders: PIL writes them; PIL (and torchvision, when installed) reads
# them as ImageFolder + Resize would


def img(w, h, mode):
    bands = {"L": 1, "RGB": 3, "RGBA": 4, "CMYK": 4}[mode]
    a = rng.integers(0, 256, (h, w, bands), dtype=np.uint8)
    # smooth the noise a little so that JPEG has something to keep
    a = ((a.astype(np.int32) + np.roll(a, 1, 0) + np.roll(a, 1, 1)) // 3).astype(np.uint8)
    return Image.fromarray(a[..., 0] if bands == 1 else a, mode)


root = os.path.join(OUT, "images")
files = {  # (split, class, relative name): (image, save options)
    ("train", "cat", "a.png"): (img(13, 9, "RGB"), {}),
    ("train", "cat", "b.jpg"): (img(20, 15, "RGB"), {"quality": 90}),
    ("train", "cat", "sub/c.jpeg"): (img(8, 8, "RGB"), {"progressive": True, "quality": 75}),
    ("train", "cat", "B2.JPG"): (img(11, 12, "L"), {"quality": 85}),
    ("train", "dog", "x.png"): (img(12, 10, "L"), {}),
    ("train", "dog", "y.ppm"): (img(7, 5, "RGB"), {}),
    ("train", "dog", "z.jpg"): (img(16, 16, "CMYK"), {"quality": 95}),
    ("train", "zebra", "1.png"): (img(12, 10, "RGB"), {}),
    ("train", "zebra", "2.png"): (img(3, 4, "RGB"), {}),
    ("test", "dog", "t.jpg"): (img(24, 20, "RGB"), {"quality": 80, "subsampling": 2}),
    ("test", "cat", "u.png"): (img(12, 10, "RGB"), {}),
}
for (sp, cl, name), (im, kw) in files.items():
    im.save(path("images", sp, cl, name), **kw)
with open(path("images", "train", "cat", "notes.txt"), "w") as f:
    f.write("not an image, and not named as one: ignored\n")


def walk(split_root, classes):
    """torchvision's make_dataset: class folders sorted, sorted(os.walk(...)), files sorted."""
    out = []
    for k, cl in enumerate(classes):
        for r, _, fn in sorted(os.walk(os.path.join(split_root, cl), followlinks=True)):
            for f in sorted(fn):
                if f.startswith("."):
                    continue
                if f.lower().endswith((".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm")):
                    out.append((os.path.join(r, f), k))
    return out


def pil_read(p, c, h, w):  # pil_loader, then Grayscale() for one channel, then Resize((h, w))
    with open(p, "rb") as f:
        im = Image.open(f).convert("RGB")
    if c == 1:
        im = im.convert("L")
    if im.size != (w, h):
        im = im.resize((w, h), Image.BILINEAR)
    a = np.asarray(im)
    return a[None] if c == 1 else a.transpose(2, 0, 1)


def folder_expect(split_root, classes, c, h, w):
    items = walk(split_root, classes)
    x = np.stack([pil_read(p, c, h, w) for p, _ in items])
    y = np.array([k for _, k in items])
    try:  # the same through torchvision itself
        import torchvision.transforms as T
        from torchvision.datasets import ImageFolder
        tf = [T.Grayscale()] if c == 1 else []
        ds = ImageFolder(split_root, transform=T.Compose(tf + [T.Resize((h, w)), T.PILToTensor()]))
        if ds.classes == classes:  # the test split may lack a class: then indices differ by design
            tx = np.stack([ds[i][0].numpy() for i in range(len(ds))])
            ty = np.array([ds[i][1] for i in range(len(ds))])
            assert (tx == x).all() and (ty == y).all(), "torchvision and PIL disagree"
            print(f"torchvision ImageFolder agrees on {split_root} ({len(ds)} images)", file=sys.stderr)
    except ImportError:
        pass
    return x, y


classes = ["cat", "dog", "zebra"]
for c in (3, 1):
    xtr_, ytr_ = folder_expect(os.path.join(root, "train"), classes, c, 10, 12)
    xte_, yte_ = folder_expect(os.path.join(root, "test"), classes, c, 10, 12)
    ok(f"image folder, {c} channel(s), --input-size 10x12", root,
       [split_record(f"img_tr{c}", xtr_, ytr_, 3, classes=classes), split_record(f"img_te{c}", xte_, yte_, 3, classes=classes)],
       channels=c, height=10, width=12)
    if c == 3:
        cases[-1]["fuzz_seed"] = True

# one split, gray images of one size: channels and size from the images themselves
for k, cl in enumerate(["b", "a"]):
    for i in range(3):
        img(6, 5, "L").save(path("gray", cl, f"{i}.png"))
xg, yg = folder_expect(os.path.join(OUT, "gray"), ["a", "b"], 1, 5, 6)
ok("image folder, one split, gray, sizes from the files", os.path.join(OUT, "gray"),
   [split_record("img_gray", xg, yg, 2, classes=["a", "b"])])

# RGBA: deepc composites onto black (PIL's convert("RGB") would drop alpha)
im = img(6, 5, "RGBA")
im.save(path("rgba", "c0", "a.png"))
img(6, 5, "RGB").save(path("rgba", "c1", "b.png"))
with open(path("rgba", "c1", ".hidden.png"), "w") as f:  # hidden: skipped (torchvision would try it)
    f.write("hidden\n")
os.makedirs(path("rgba", ".ipynb_checkpoints", "x"), exist_ok=True)  # a hidden folder is no class
black = Image.new("RGBA", im.size, (0, 0, 0, 255))
comp = np.asarray(Image.alpha_composite(black, im).convert("RGB")).transpose(2, 0, 1)
b_ = pil_read(path("rgba", "c1", "b.png"), 3, 5, 6)
ok("image folder, RGBA composited onto black", os.path.join(OUT, "rgba"),
   [split_record("img_rgba", np.stack([comp, b_]), [0, 1], 2, classes=["c0", "c1"])])

# defects: a truncated JPEG, a text file named .png, a BMP, sizes that differ, an empty class
def bad_folder(name, needle, make, **opt):
    d = os.path.join(OUT, "imgbad_" + name.replace(" ", "_"))
    img(6, 5, "RGB").save(path("imgbad_" + name.replace(" ", "_"), "k0", "good.png"))
    img(6, 5, "RGB").save(path("imgbad_" + name.replace(" ", "_"), "k1", "good.png"))
    make(d)
    error("image folder " + name, d, needle, **opt)


def trunc_jpeg(d):
    b = io.BytesIO()
    img(16, 16, "RGB").save(b, "JPEG")
    with open(os.path.join(d, "k1", "cut.jpg"), "wb") as f:
        f.write(b.getvalue()[: len(b.getvalue()) // 2])


def text_png(d):
    with open(os.path.join(d, "k0", "fake.png"), "w") as f:
        f.write("this is text, not a PNG\n")


bad_folder("truncated jpeg", "cut.jpg", trunc_jpeg)
bad_folder("text as png", "fake.png", text_png)
bad_folder("bmp", "BMP is not supported", lambda d: img(6, 5, "RGB").save(os.path.join(d, "k1", "pic.bmp")))
bad_folder("sizes differ", "give --input-size", lambda d: img(7, 5, "RGB").save(os.path.join(d, "k1", "wide.png")))
bad_folder("empty class", "holds no image files", lambda d: os.makedirs(os.path.join(d, "k2")))
# --skip-bad: the two bad files are left out and counted
d = os.path.join(OUT, "imgskip")
good_imgs = [img(6, 5, "RGB") for _ in range(3)]
good_imgs[0].save(path("imgskip", "k0", "1.png"))
good_imgs[1].save(path("imgskip", "k0", "2.png"))
good_imgs[2].save(path("imgskip", "k1", "3.png"))
text_png(d)
trunc_jpeg(d)
xs = np.stack([np.asarray(i).transpose(2, 0, 1) for i in good_imgs])
ok("image folder --skip-bad", d, [split_record("img_skip", xs, [0, 0, 1], 2, classes=["k0", "k1"], skipped=2)], skip_bad=True)
error("image folder bad file named without --skip-bad", d, "fake.png")
# a test class the training split does not have
img(6, 5, "RGB").save(path("imgtestclass", "train", "a", "1.png"))
img(6, 5, "RGB").save(path("imgtestclass", "train", "b", "1.png"))
img(6, 5, "RGB").save(path("imgtestclass", "test", "c", "1.png"))
error("image folder unknown test class", os.path.join(OUT, "imgtestclass"), "'c' is not among the 2 training classes")

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"{len(cases)} cases in {OUT}/manifest.json", file=sys.stderr)
