#!/usr/bin/python3
"""bench_torch.py — the PyTorch side of deepc's benchmark (bench/run.sh).

Trains the same LeNet-5 job deepc's `train --model lenet5` runs, the fastest
plain way PyTorch can: the whole of Fashion-MNIST is parsed once (gzip + numpy)
into float tensors normalised with the training mean/std, every epoch draws a
torch.randperm and slices batches out of the in-memory tensor (no DataLoader,
no worker processes), last partial batch kept. Model: default PyTorch init;
loss: cross-entropy; optimizer: SGD lr 0.001 momentum 0.9; batch 64.

Each epoch's training loop is timed (time.perf_counter around the loop only).
After the last epoch it evaluates test accuracy and measures inference
throughput (model.eval(), torch.no_grad()): batch 1 over --infer1 single
images, and batch 1000 over the whole test set (best of 3 passes).

Run with Debian's torch 1.13:
  OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/bench_torch.py --threads 2 --epochs 5
Prints one JSON object per epoch and a final {"event":"done",...} line.
"""
import argparse
import gzip
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path, magic):
    """Reads a gzip IDX file; checks the magic (0x803 images, 0x801 labels)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    got = int.from_bytes(raw[0:4], "big")
    if got != magic:
        sys.exit(f"{path}: expected IDX magic {magic:#010x}, found {got:#010x}")
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--infer1", type=int, default=2000,
                    help="single images timed at batch 1")
    ap.add_argument("--data", default=DATA_DIR)
    ap.add_argument("--limit", type=int, default=0,
                    help="use only the first N training images (smoke tests)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    d = a.data
    xtr = read_idx(f"{d}/train-images-idx3-ubyte.gz", 0x803)
    ytr = read_idx(f"{d}/train-labels-idx1-ubyte.gz", 0x801)
    xte = read_idx(f"{d}/t10k-images-idx3-ubyte.gz", 0x803)
    yte = read_idx(f"{d}/t10k-labels-idx1-ubyte.gz", 0x801)
    # Normalise with the training set's mean/std of [0,1] pixels, as deepc does.
    # Mean/std from a histogram of the bytes (as deepc computes them), and
    # the conversion in place, so the peak RSS holds one float copy of each
    # set and no float64 temporaries.
    hist = np.bincount(xtr.reshape(-1), minlength=256).astype(np.float64)
    v = np.arange(256) / 255.0
    cnt = hist.sum()
    mean = float((hist * v).sum() / cnt)
    std = float(np.sqrt((hist * v * v).sum() / cnt - mean * mean))
    xtr_f = xtr.astype(np.float32)
    xtr_f /= 255.0
    xtr_f -= mean
    xtr_f /= std
    xte_f = xte.astype(np.float32)
    xte_f /= 255.0
    xte_f -= mean
    xte_f /= std
    del xtr, xte
    Xtr = torch.from_numpy(xtr_f).unsqueeze(1)  # shares memory, (N,1,28,28)
    Xte = torch.from_numpy(xte_f).unsqueeze(1)
    Ytr = torch.from_numpy(ytr.astype(np.int64))
    Yte = torch.from_numpy(yte.astype(np.int64))
    if a.limit > 0:
        Xtr, Ytr = Xtr[:a.limit].contiguous(), Ytr[:a.limit].contiguous()
    n = Xtr.shape[0]

    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    lossf = nn.CrossEntropyLoss()

    for ep in range(1, a.epochs + 1):
        model.train()
        perm = torch.randperm(n)
        tot_loss, correct = 0.0, 0
        t0 = time.perf_counter()
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            xb, yb = Xtr[idx], Ytr[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = lossf(out, yb)
            loss.backward()
            opt.step()
            # .item() syncs nothing on CPU but costs a little; deepc also
            # accumulates loss and accuracy per step, so keep it comparable.
            tot_loss += loss.item() * yb.shape[0]
            correct += int((out.argmax(1) == yb).sum())
        sec = time.perf_counter() - t0
        emit({"event": "epoch", "epoch": ep, "epochs": a.epochs,
              "train_loss": tot_loss / n, "train_acc": correct / n,
              "seconds": round(sec, 4)})

    model.eval()
    with torch.no_grad():
        correct = 0
        for i in range(0, Xte.shape[0], 1000):
            correct += int((model(Xte[i:i + 1000]).argmax(1) == Yte[i:i + 1000]).sum())
        acc = correct / Xte.shape[0]

        # Batch 1: single images, softmax included as deepc's predict does.
        k = min(a.infer1, Xte.shape[0])
        for i in range(50):  # warm-up
            torch.softmax(model(Xte[i:i + 1]), 1)
        t0 = time.perf_counter()
        for i in range(k):
            torch.softmax(model(Xte[i:i + 1]), 1)
        ips1 = k / (time.perf_counter() - t0)

        # Batch 1000 over the whole test set, best of 3 passes.
        best = 1e30
        for _ in range(3):
            t0 = time.perf_counter()
            for i in range(0, Xte.shape[0], 1000):
                torch.softmax(model(Xte[i:i + 1000]), 1)
            best = min(best, time.perf_counter() - t0)
        ips1000 = Xte.shape[0] / best

    emit({"event": "done", "test_accuracy": acc, "threads": a.threads, "n_train": n,
          "infer_b1_ips": round(ips1, 1), "infer_b1000_ips": round(ips1000, 1),
          "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          "torch": torch.__version__,
          "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}})


if __name__ == "__main__":
    main()
