#!/usr/bin/python3
"""gen_explain_fixtures.py - PyTorch references for deepc's attribution methods.

Run from the repository root (Debian's python3-torch 1.13 and numpy):

    /usr/bin/python3 tests/gen_explain_fixtures.py

It rewrites tests/fixtures/explain_*.dcfx in the .dcfx format of
tests/gen_fixtures.py (documented there; read by tests/fixture.h). The run is
deterministic (fixed seeds, one thread, float32), so it is idempotent.

explain_lenet5.dcfx: a LeNet-5 (deepc's built-in "lenet5": conv 6@5x5 pad 2,
relu, maxpool 2, conv 16@5x5, relu, maxpool 2, flatten, fc 120, relu, fc 84,
relu, fc 10) with seeded PyTorch-default weights, N inputs and one target
class each, and for every input:

  grad      d logit[target] / d x                 (N,1,28,28)
  saliency  |grad| max over channels              (N,28,28)
  gradcam   ReLU(sum_k w_k A_k), w_k = mean_ij dlogit/dA_kij, A = conv2's
            output (before its ReLU), upsampled by F.interpolate(bilinear,
            align_corners=False) to 28x28          (N,28,28)
  ig        integrated gradients of the logit from the constant baseline
            `base_value`, midpoint rule with `ig_steps` points   (N,1,28,28)
  occlusion mean over covering 4x4 windows (stride 2, fill 0.0) of
            p(x)[target] - p(occluded)[target]     (N,28,28)

Parameter tensors keep PyTorch's names (conv1.weight, ...), which are also
deepc's tensor names for the built-in lenet5.
"""

import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def to_f32(t):
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().to(torch.float32).contiguous().numpy()
    return np.asarray(t, dtype=np.float64).astype(np.float32)


def write_dcfx(name, tensors):
    """tensors: list of (name, tensor-like), written in order (format: gen_fixtures.py)."""
    parts = [b"DCFX", struct.pack("<II", 1, len(tensors))]
    seen = set()
    for tname, t in tensors:
        assert tname not in seen, tname
        seen.add(tname)
        a = to_f32(t)
        nb = tname.encode("ascii")
        parts += [struct.pack("<I", len(nb)), nb, struct.pack("<I", a.ndim),
                  struct.pack("<%dI" % a.ndim, *a.shape), a.astype("<f4").tobytes(order="C")]
    data = b"".join(parts)
    path = os.path.join(OUT, name + ".dcfx")
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    return len(data)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x, keep=None):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        a = self.conv2(x)
        if keep is not None:
            keep.append(a)
        x = F.max_pool2d(F.relu(a), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def occlusion(model, x, target, window, stride, fill):
    """x (1,1,H,W): mean over covering windows of the drop in p[target]."""
    H, W = x.shape[2], x.shape[3]
    pos_y = list(range(0, H - window + 1, stride))
    pos_x = list(range(0, W - window + 1, stride))
    if pos_y[-1] != H - window:
        pos_y.append(H - window)
    if pos_x[-1] != W - window:
        pos_x.append(W - window)
    copies = []
    for y0 in pos_y:
        for x0 in pos_x:
            c = x.clone()
            c[:, :, y0:y0 + window, x0:x0 + window] = fill
            copies.append(c)
    with torch.no_grad():
        p0 = torch.softmax(model(x).double(), 1)[0, target]
        p = torch.softmax(model(torch.cat(copies)).double(), 1)[:, target]
    s = torch.zeros(H, W, dtype=torch.float64)
    n = torch.zeros(H, W, dtype=torch.float64)
    i = 0
    for y0 in pos_y:
        for x0 in pos_x:
            s[y0:y0 + window, x0:x0 + window] += p0 - p[i]
            n[y0:y0 + window, x0:x0 + window] += 1
            i += 1
    return s / n


def lenet_case(name, seed, n):
    torch.manual_seed(seed)
    model = LeNet5()
    # inputs in normalised units with image-like structure: a blurred,
    # thresholded random field (bright blobs on a dark background)
    mean, std = 0.2860, 0.3530
    raw = torch.rand(n, 1, 7, 7)
    img = F.interpolate(raw, size=(28, 28), mode="bilinear", align_corners=False)
    img = torch.clamp((img - 0.35) * 2.0, 0.0, 1.0)
    x = ((img - mean) / std).contiguous()
    with torch.no_grad():
        pred = model(x).argmax(1)
    targets = pred.clone()
    targets[0] = (pred[0] + 3) % 10      # one target that is not the predicted class
    steps = 64
    base_value = (0.0 - mean) / std
    t = [("norm", [mean, std]), ("x", x), ("targets", targets), ("predicted", pred),
         ("ig_steps", [steps]), ("base_value", [base_value])]
    t += [(k, v.detach().clone()) for k, v in model.named_parameters()]
    grads, sal, cams, igs, occs = [], [], [], [], []
    for i in range(n):
        xi = x[i:i + 1].clone().requires_grad_()
        keep = []
        logits = model(xi, keep)
        A = keep[0]
        g, dA = torch.autograd.grad(logits[0, targets[i]], [xi, A])
        grads.append(g[0])
        sal.append(g[0].abs().amax(0))
        w = dA[0].mean(dim=(1, 2))                          # (16,)
        cam = F.relu((w[:, None, None] * A[0]).sum(0))      # (10,10)
        cam = F.interpolate(cam[None, None], size=(28, 28), mode="bilinear",
                            align_corners=False)[0, 0]
        cams.append(cam.detach())
        # integrated gradients, midpoint rule, all points in one batch
        b = torch.full_like(x[i:i + 1], base_value)
        alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
        path = (b + alphas.float()[:, None, None, None] * (x[i:i + 1] - b)).requires_grad_()
        out = model(path)[:, targets[i]].sum()
        (gp,) = torch.autograd.grad(out, path)
        igs.append(((x[i] - b[0]).double() * gp.double().mean(0)).float())
        occs.append(occlusion(model, x[i:i + 1], int(targets[i]), 4, 2, 0.0).float())
    t += [("grad", torch.stack(grads)), ("saliency", torch.stack(sal)),
          ("gradcam", torch.stack(cams)), ("ig", torch.stack(igs)),
          ("occlusion", torch.stack(occs))]
    assert [k for k, _ in model.named_parameters()] == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
        "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
    return write_dcfx(name, t)


def main():
    os.makedirs(OUT, exist_ok=True)
    size = lenet_case("explain_lenet5", 2024, 4)
    print("wrote tests/fixtures/explain_lenet5.dcfx (%d bytes)" % size)


if __name__ == "__main__":
    main()
