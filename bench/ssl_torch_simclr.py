#!/usr/bin/env python3
"""ssl_torch_simclr.py - the SimCLR loop a PyTorch user would write, for the
time-per-epoch comparison with `deepc pretrain` (bench/ssl.sh runs both in
one run, alternating, and reports medians).

Same job as `deepc pretrain --model lenet5 --method simclr --batch 256`:
LeNet-5 up to its 84-wide layer, the projector Linear(84,512)-BatchNorm1d-
ReLU-Linear(512,128), two views per image (random resized crop of area
0.2-1 and ratio 3/4-4/3, horizontal flip, brightness/contrast jitter with
p 0.8), NT-Xent at temperature 0.5, AdamW (lr 1e-3, weight decay 1e-4),
cosine schedule, the last partial batch dropped. The views are made on the
whole batch at once with affine_grid/grid_sample (kornia's way; a
per-image torchvision loop would be slower), so this is a strong baseline.

    bench/.venv/bin/python bench/ssl_torch_simclr.py --threads 2 --limit 60000 --epochs 1

Prints one JSON line: seconds_per_epoch (wall, training only),
cpu_seconds_per_epoch (processor time of every thread), loss, versions.
With --knn, also the kNN accuracy of the 84-wide features after every epoch
(deepc's monitor: the first 5,000 training images as the bank, the first
2,000 test images as queries, 20 neighbours by cosine similarity weighted by
exp(s / 0.1)), outside the timed part: a check that deepc's SimCLR learns as
PyTorch's does.
"""
import argparse
import gzip
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    _, _, rank = struct.unpack(">HBB", data[:4])
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def lenet5_encoder():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU())


def views(x, g, mean, std):
    """x: (B,1,H,W) floats in [0,1] -> one augmented view of each, normalised."""
    B, _, H, W = x.shape
    area = torch.empty(B).uniform_(0.2, 1.0, generator=g)
    logr = torch.empty(B).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g)
    ratio = torch.exp(logr)
    cw = torch.sqrt(area * ratio).clamp(max=1.0)   # crop size as a fraction of the side
    ch = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(B, generator=g) * (1 - cw) + cw / 2) * 2 - 1  # crop centre in [-1, 1]
    cy = (torch.rand(B, generator=g) * (1 - ch) + ch / 2) * 2 - 1
    flip = torch.where(torch.rand(B, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = cw * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = ch
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, (B, 1, H, W), align_corners=False)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    jit = (torch.rand(B, 1, 1, 1, generator=g) < 0.8).float()
    b = 1 + jit * torch.empty(B, 1, 1, 1).uniform_(-0.4, 0.4, generator=g)
    c = 1 + jit * torch.empty(B, 1, 1, 1).uniform_(-0.4, 0.4, generator=g)
    v = (v * b).clamp(0, 1)
    m = v.mean(dim=(1, 2, 3), keepdim=True)
    v = (c * v + (1 - c) * m).clamp(0, 1)
    return (v - mean) / std


def ntxent(z, T):
    n2 = z.shape[0]
    u = F.normalize(z, dim=1)
    s = u @ u.t() / T
    s = s.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(s, (torch.arange(n2) + n2 // 2) % n2)


def knn_accuracy(enc, x_bank, y_bank, x_query, y_query, k=20, t=0.1):
    enc.eval()
    with torch.no_grad():
        fb = F.normalize(torch.cat([enc(x_bank[i:i + 500]) for i in range(0, len(x_bank), 500)]), dim=1)
        fq = F.normalize(torch.cat([enc(x_query[i:i + 500]) for i in range(0, len(x_query), 500)]), dim=1)
        s, idx = (fq @ fb.t()).topk(k, dim=1)
        votes = torch.zeros(len(fq), 10).scatter_add_(1, y_bank[idx], torch.exp(s / t))
    enc.train()
    return float((votes.argmax(1) == y_query).float().mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=60000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--knn", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    px = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"))[:a.limit]
    x_all = torch.from_numpy(px.astype(np.float32) / 255.0).unsqueeze(1)
    mean, std = float(x_all.mean()), float(x_all.std())
    enc = lenet5_encoder()
    proj = nn.Sequential(nn.Linear(84, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))
    model = nn.Sequential(enc, proj)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = len(x_all) // a.batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs * steps)
    model.train()
    times, cpus, loss_v = [], [], float("nan")
    for _ in range(a.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(x_all), generator=g)
        total = 0.0
        for s in range(steps):
            xb = x_all[perm[s * a.batch:(s + 1) * a.batch]]
            x = torch.cat([views(xb, g, mean, std), views(xb, g, mean, std)])
            loss = ntxent(model(x), a.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)  # every thread of the process
        loss_v = total / steps
        if a.knn:
            yb = torch.from_numpy(read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"))[:5000].astype(np.int64))
            tx = read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz"))[:2000]
            ty = torch.from_numpy(read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz"))[:2000].astype(np.int64))
            xq = (torch.from_numpy(tx.astype(np.float32) / 255.0).unsqueeze(1) - mean) / std
            xb = (x_all[:5000] - mean) / std
            print(json.dumps({"epoch": _ + 1, "loss": loss_v, "knn_accuracy": knn_accuracy(enc, xb, yb, xq, ty)}),
                  flush=True)
    print(json.dumps({"framework": "torch", "version": torch.__version__, "threads": a.threads, "batch": a.batch,
                      "images": len(x_all), "epochs": a.epochs, "seconds_per_epoch": sum(times) / len(times),
                      "cpu_seconds_per_epoch": sum(cpus) / len(cpus),
                      "loss": loss_v}))


if __name__ == "__main__":
    main()
