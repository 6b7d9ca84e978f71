#!/usr/bin/env python3
"""make_data_copies.py IDX_DIR OUT N_TRAIN N_TEST — the first N_TRAIN
training and N_TEST test images of an MNIST-format IDX folder (Fashion-MNIST)
rewritten in the other layouts deepc reads, by Python's own writers:

  OUT/train.csv, OUT/test.csv   Kaggle's digit-recognizer layout (label,pixel0..pixel783;
                                test.csv keeps its labels so that it can be evaluated)
  OUT/kaggle_test.csv           the first 50 test images without labels (Kaggle's test.csv)
  OUT/fashion.npz               Keras's mnist.npz layout: x_train, y_train, x_test, y_test (uint8)
  OUT/images/{train,test}/K_NAME/NNNNN.png   torchvision's ImageFolder layout, one PNG per image
                                (class folders named so that their sorted order is the label order)
  OUT/x_test.npy                the test images as one (N,28,28) uint8 array

Pixels and labels are the IDX bytes unchanged (PNG is lossless), so a model
trained on any copy sees the same data; only the image folder's order differs
(class by class, as ImageFolder lists it).
"""
import csv
import gzip
import os
import sys

import numpy as np
from PIL import Image

src, out, ntr, nte = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
NAMES = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]


def idx(name):
    for p in (os.path.join(src, name), os.path.join(src, name + ".gz")):
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            rank = raw[3]
            dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims)
    sys.exit(f"{src}: no {name}[.gz]")


xtr, ytr = idx("train-images-idx3-ubyte")[:ntr], idx("train-labels-idx1-ubyte")[:ntr]
xte, yte = idx("t10k-images-idx3-ubyte")[:nte], idx("t10k-labels-idx1-ubyte")[:nte]
os.makedirs(out, exist_ok=True)


def write_csv(path, x, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow((["label"] if y is not None else []) + [f"pixel{i}" for i in range(784)])
        for i in range(len(x)):
            w.writerow(([int(y[i])] if y is not None else []) + x[i].reshape(-1).tolist())


write_csv(os.path.join(out, "train.csv"), xtr, ytr)
write_csv(os.path.join(out, "test.csv"), xte, yte)
write_csv(os.path.join(out, "kaggle_test.csv"), xte[:50], None)
np.savez_compressed(os.path.join(out, "fashion.npz"), x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
np.save(os.path.join(out, "x_test.npy"), xte)
for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
    for i in range(len(x)):
        d = os.path.join(out, "images", split, f"{y[i]}_{NAMES[y[i]]}")
        os.makedirs(d, exist_ok=True)
        Image.fromarray(x[i]).save(os.path.join(d, f"{i:05d}.png"))
print(f"{out}: {ntr} train, {nte} test images as CSV, npz, npy and PNG folders", file=sys.stderr)
