#!/usr/bin/python3
"""interop_torch.py - deepc model files and PyTorch, both ways (tests/cli_interop.sh).

  interop_torch.py eval MODEL.safetensors --arch NAME [--data DIR] [--limit N]
      Loads a deepc model file into the PyTorch module of the same built-in
      (bench/torch_models.py) with load_state_dict(strict=True), after the
      one documented filter (drop deepc's optimizer state, "optim.*"), applies
      the normalisation stored in the file, and prints {"accuracy", "n",
      "pred": [...]} of the first N test images in eval mode.
  interop_torch.py train-export --arch NAME --out STATE.safetensors [--steps S] [--limit N]
      Trains the module in PyTorch for a few SGD steps on Fashion-MNIST,
      saves its plain state_dict as safetensors (no deepc metadata) and prints
      {"accuracy", "n", "pred", "mean", "std"} on the first N test images.
Needs Debian's python3-torch and numpy; reads /usr/share/datasets/fashion-mnist.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import st_py  # noqa: E402
from torch_models import build  # noqa: E402

torch.set_num_threads(2)
DATA = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        d = f.read()
    (magic,) = struct.unpack(">I", d[:4])
    rank = magic & 0xFF
    dims = struct.unpack(">%dI" % rank, d[4:4 + 4 * rank])
    return np.frombuffer(d[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def load_split(data, split, limit):
    pre = "t10k" if split == "test" else "train"
    x = idx(os.path.join(data, pre + "-images-idx3-ubyte.gz"))[:limit]
    y = idx(os.path.join(data, pre + "-labels-idx1-ubyte.gz"))[:limit]
    return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def evaluate(model, x, y, mean, std):
    model.eval()
    with torch.no_grad():
        pred = model((x - mean) / std).argmax(1)
    return {"accuracy": float((pred == y).float().mean()), "n": int(len(y)), "pred": pred.tolist()}


def cmd_eval(a):
    tensors, meta = st_py.load(a.model)
    sd = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("optim.")}  # the one filter
    model = build(a.arch, in_ch=1, classes=10, hw=28)
    model.load_state_dict(sd, strict=True)
    norm = json.loads(meta["deepc.norm"])
    x, y = load_split(a.data, "test", a.limit)
    print(json.dumps(evaluate(model, x, y, norm["mean"], norm["std"])))


def cmd_train_export(a):
    torch.manual_seed(1)
    xt, yt = load_split(a.data, "train", a.train_limit)
    mean, std = float(xt.mean()), float(xt.std(unbiased=False))
    model = build(a.arch, in_ch=1, classes=10, hw=28)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for s in range(a.steps):
        i = torch.randint(0, len(yt), (64,))
        loss = F.cross_entropy(model((xt[i] - mean) / std), yt[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    st_py.save(a.out, {k: v.detach().numpy() for k, v in model.state_dict().items()}, {"format": "pt"})
    x, y = load_split(a.data, "test", a.limit)
    r = evaluate(model, x, y, mean, std)
    r.update(mean=mean, std=std)
    print(json.dumps(r))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval")
    e.add_argument("model")
    t = sub.add_parser("train-export")
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=30)
    t.add_argument("--train-limit", type=int, default=10000)
    for q in (e, t):
        q.add_argument("--arch", required=True)
        q.add_argument("--data", default=DATA)
        q.add_argument("--limit", type=int, default=500)
    a = p.parse_args()
    cmd_eval(a) if a.cmd == "eval" else cmd_train_export(a)


if __name__ == "__main__":
    main()
