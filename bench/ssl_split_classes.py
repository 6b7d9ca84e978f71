#!/usr/bin/python3
"""ssl_split_classes.py - a new MNIST-format data set from some classes of
another: keeps the samples whose label is in [LO, HI), relabels them
label - LO, and writes the four raw IDX files into DST (numpy only).

    /usr/bin/python3 bench/ssl_split_classes.py /usr/share/datasets/fashion-mnist DST 5 10

Used by bench/ssl.sh transfer (an encoder pretrained on Fashion-MNIST's
classes 0-4, fine-tuned on classes 5-9: a task it has not seen) and by
tests/cli_learn.sh (a 5-class data set for --new-head).
"""
import gzip
import os
import struct
import sys

import numpy as np

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def write_idx(path, a):
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, a.ndim))
        f.write(struct.pack(">" + "I" * a.ndim, *a.shape))
        f.write(a.astype(np.uint8).tobytes())
    os.replace(path + ".tmp", path)


def find(src, name):
    for n in (name, name + ".gz"):
        if os.path.exists(os.path.join(src, n)):
            return os.path.join(src, n)
    sys.exit("ssl_split_classes.py: %s has no %s[.gz]" % (src, name))


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    src, dst, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(dst, exist_ok=True)
    for split in (0, 2):
        x, y = read_idx(find(src, FILES[split])), read_idx(find(src, FILES[split + 1]))
        keep = (y >= lo) & (y < hi)
        write_idx(os.path.join(dst, FILES[split]), x[keep])
        write_idx(os.path.join(dst, FILES[split + 1]), y[keep] - lo)
        print("%s: %d of %d samples (classes %d..%d)" % (FILES[split], keep.sum(), len(y), lo, hi - 1))


if __name__ == "__main__":
    main()
