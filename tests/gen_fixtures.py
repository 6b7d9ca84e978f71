#!/usr/bin/python3
"""gen_fixtures.py - PyTorch reference fixtures for deepc's layers and optimizers.

Run from the repository root (Debian's python3-torch 1.13 and numpy):

    /usr/bin/python3 tests/gen_fixtures.py

It rewrites tests/fixtures/*.dcfx. The script is deterministic and
idempotent: torch.manual_seed is fixed per case, torch runs on one thread
with deterministic algorithms, everything is float32, so running it twice
gives byte-identical files (the script checks nothing else in the tree).

File format (.dcfx, all integers u32 little-endian):

    magic   4 bytes  "DCFX"
    version u32      1
    count   u32      number of tensors
    count times:
        name_len u32, name (name_len bytes, ASCII, no terminator)
        rank     u32, dims (rank x u32)   (rank 0 = a scalar, one value)
        data     prod(dims) x float32 little-endian, row-major

Integer tensors (labels, argmax indices, shape configs) are stored as
float32; every value involved is < 2^24 so this is exact.
tests/fixture.h reads the format and checks it against the file length.

Per-layer cases store the inputs, the forward output and the backward
gradients of loss = (y * dy).sum() for a random upstream gradient dy, plus
a "cfg" tensor with the shape integers the C test passes to our layer.
"""

import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


# ---------------------------------------------------------------------------
# Writing

def to_f32(t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        if t.dtype != torch.float32:
            t = t.to(torch.float64)
            assert float(t.abs().max()) < 2 ** 24 if t.numel() else True
            t = t.to(torch.float32)
        return t.contiguous().numpy()
    a = np.asarray(t, dtype=np.float64)
    return a.astype(np.float32)


def write_dcfx(name, tensors):
    """tensors: list of (name, tensor-like). Order is kept."""
    parts = [b"DCFX", struct.pack("<II", 1, len(tensors))]
    seen = set()
    for tname, t in tensors:
        assert tname not in seen, tname
        seen.add(tname)
        a = to_f32(t)
        nb = tname.encode("ascii")
        parts.append(struct.pack("<I", len(nb)))
        parts.append(nb)
        parts.append(struct.pack("<I", a.ndim))
        parts.append(struct.pack("<%dI" % a.ndim, *a.shape))
        parts.append(a.astype("<f4").tobytes(order="C"))
    data = b"".join(parts)
    path = os.path.join(OUT, name + ".dcfx")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return len(data)


def grads_of(y, dy, *leaves):
    """Backward of loss = (y * dy).sum(); returns the grads of the leaves."""
    (y * dy).sum().backward()
    return [l.grad.detach().clone() for l in leaves]


# ---------------------------------------------------------------------------
# Layers

def conv_case(name, seed, N, C, H, W, OC, K, stride, pad):
    torch.manual_seed(seed)
    x = torch.randn(N, C, H, W, requires_grad=True)
    # weights scaled like PyTorch's init so outputs stay O(1)
    w = (torch.randn(OC, C, K, K) / math.sqrt(C * K * K)).requires_grad_()
    b = (torch.randn(OC) * 0.1).requires_grad_()
    y = F.conv2d(x, w, b, stride=stride, padding=pad)
    dy = torch.randn_like(y)
    dx, dw, db = grads_of(y, dy, x, w, b)
    return write_dcfx(name, [
        ("cfg", [N, C, H, W, OC, K, stride, pad]),
        ("x", x), ("w", w), ("b", b), ("y", y), ("dy", dy),
        ("dx", dx), ("dw", dw), ("db", db)])


def maxpool_case(name, seed, N, C, H, W, K, stride, ties):
    torch.manual_seed(seed)
    x = torch.randn(N, C, H, W)
    if ties:
        # ReLU'd values on a coarse grid: many zeros (whole windows of them)
        # and repeated positive maxima, so the first-max rule is exercised.
        x = torch.relu(torch.round(x * 2) / 2)
    x.requires_grad_()
    y, idx = F.max_pool2d(x, K, stride, return_indices=True)
    dy = torch.randn_like(y)
    (dx,) = grads_of(y, dy, x)
    return write_dcfx(name, [
        ("cfg", [N, C, H, W, K, stride]),
        ("x", x), ("y", y), ("argmax", idx), ("dy", dy), ("dx", dx)])


def avgpool_case(name, seed, N, C, H, W, K, stride):
    torch.manual_seed(seed)
    x = torch.randn(N, C, H, W, requires_grad=True)
    y = F.avg_pool2d(x, K, stride)
    dy = torch.randn_like(y)
    (dx,) = grads_of(y, dy, x)
    return write_dcfx(name, [
        ("cfg", [N, C, H, W, K, stride]),
        ("x", x), ("y", y), ("dy", dy), ("dx", dx)])


def act_case(name, seed, fn):
    torch.manual_seed(seed)
    x = torch.randn(1000) * 3
    x[:20] = 0.0                      # exact zeros (relu: y = 0, grad 0)
    x[20:30] = torch.tensor([50., -50., 20., -20., 10., -10., 1e-30, -1e-30, 88., -88.])
    x.requires_grad_()
    y = fn(x)
    dy = torch.randn_like(y)
    (dx,) = grads_of(y, dy, x)
    return write_dcfx(name, [("x", x), ("y", y), ("dy", dy), ("dx", dx)])


def linear_case(name, seed, N, I, O):
    torch.manual_seed(seed)
    x = torch.randn(N, I, requires_grad=True)
    w = (torch.randn(O, I) / math.sqrt(I)).requires_grad_()
    b = (torch.randn(O) * 0.1).requires_grad_()
    y = F.linear(x, w, b)
    dy = torch.randn_like(y)
    dx, dw, db = grads_of(y, dy, x, w, b)
    return write_dcfx(name, [
        ("cfg", [N, I, O]),
        ("x", x), ("w", w), ("b", b), ("y", y), ("dy", dy),
        ("dx", dx), ("dw", dw), ("db", db)])


def distill_case(name, seed, N, C, alpha, temp, weighted):
    # Hinton et al.'s distillation loss as PyTorch users write it:
    # (1 - a) CE + a T^2 KL(softmax(t/T) || softmax(z/T)), kl_div on log-probs
    torch.manual_seed(seed)
    logits = torch.randn(N, C) * 3
    logits[0, 3] = 50.0
    logits[3, 5] = 120.0
    teacher = torch.randn(N, C) * 4
    teacher[1, 2] = 80.0              # a confident teacher: soft targets near one-hot
    teacher[2, :] = 0.0               # a uniform teacher
    labels = torch.randint(0, C, (N,))
    logits.requires_grad_()
    wts = torch.rand(N) * 2 if weighted else None
    ce = F.cross_entropy(logits, labels, reduction="none")
    kl = F.kl_div(F.log_softmax(logits / temp, dim=1), F.log_softmax(teacher / temp, dim=1),
                  reduction="none", log_target=True).sum(dim=1)
    per = (1 - alpha) * ce + alpha * temp * temp * kl
    loss = (per * wts).sum() / N if weighted else per.mean()
    loss.backward()
    t = [("cfg", [N, C, alpha, temp]), ("logits", logits), ("teacher", teacher), ("labels", labels)]
    if weighted:
        t.append(("weights", wts))
    t += [("loss", loss.detach().reshape(1)), ("dlogits", logits.grad)]
    return write_dcfx(name, t)


def xent_case(name, seed, N, C, weighted):
    torch.manual_seed(seed)
    logits = torch.randn(N, C) * 3
    logits[0, 3] = 50.0               # large values: log-sum-exp must be stable
    logits[1, :] = -50.0
    logits[1, 7] = 50.0
    logits[2, 0] = -50.0
    logits[3, 5] = 120.0              # exp(120) overflows float32 without the max shift
    labels = torch.randint(0, C, (N,))
    labels[1] = 2                     # label far below the max: loss 100
    logits[4, labels[4]] = -120.0     # its probability underflows to 0: log p via lse
    logits.requires_grad_()
    wts = torch.rand(N) * 2 if weighted else None
    per = F.cross_entropy(logits, labels, reduction="none")
    loss = (per * wts).sum() / N if weighted else per.mean()
    loss.backward()
    t = [("cfg", [N, C]), ("logits", logits), ("labels", labels)]
    if weighted:
        t.append(("weights", wts))
    t += [("probs", torch.softmax(logits.detach(), dim=1)),
          ("loss", loss.detach().reshape(1)),
          ("dlogits", logits.grad)]
    return write_dcfx(name, t)


# ---------------------------------------------------------------------------
# Optimizers, clipping, schedules

# dc_optim_kind values in include/deepc.h
SGD, ADAM, ADAMW = 0, 1, 2


def optim_case(name, seed, kind, lr, momentum=0.0, nesterov=False, wd=0.0,
               betas=(0.9, 0.999), eps=1e-8, n=37, steps=5):
    torch.manual_seed(seed)
    p = torch.randn(n)
    grads = torch.randn(steps, n)
    p0 = p.clone()
    param = nn.Parameter(p.clone())
    if kind == SGD:
        opt = torch.optim.SGD([param], lr=lr, momentum=momentum,
                              nesterov=nesterov, weight_decay=wd, foreach=False)
    elif kind == ADAM:
        opt = torch.optim.Adam([param], lr=lr, betas=betas, eps=eps,
                               weight_decay=wd, foreach=False)
    else:
        opt = torch.optim.AdamW([param], lr=lr, betas=betas, eps=eps,
                                weight_decay=wd, foreach=False)
    after = []
    for s in range(steps):
        param.grad = grads[s].clone()
        opt.step()
        after.append(param.detach().clone())
    # cfg: kind, lr, momentum, nesterov, weight_decay, beta1, beta2, eps
    return write_dcfx(name, [
        ("cfg", [kind, lr, momentum, 1.0 if nesterov else 0.0, wd,
                 betas[0], betas[1], eps]),
        ("p0", p0), ("grads", grads), ("params", torch.stack(after))])


def clip_case(name, seed):
    torch.manual_seed(seed)
    t = []
    g = torch.randn(37)
    norm = float(g.norm())
    for tag, max_norm in (("above", norm / 3), ("below", norm * 2)):
        param = nn.Parameter(torch.zeros(37))
        param.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_([param], max_norm)
        t += [(tag + ".max_norm", [max_norm]), (tag + ".grads", g),
              (tag + ".norm", total.reshape(1)), (tag + ".clipped", param.grad)]
    return write_dcfx(name, t)


# dc_sched_kind values in include/deepc.h
CONSTANT, STEP, COSINE = 0, 1, 2


def sched_case(name):
    """Per-step learning rates for epochs 10 x steps_per_epoch 7.

    Without warmup the reference is torch's own scheduler (StepLR stepped per
    epoch, CosineAnnealingLR(T_max = all steps) stepped per step). With warmup
    it is LambdaLR over an independent statement of deepc's rule
    (src/optim/optim.c dc_schedule_lr):
      global step s = epoch*spe + step, warm = warmup_epochs*spe;
      s < warm: lr*(s+1)/warm (linear from lr/warm up to lr);
      then constant lr, or StepLR on the absolute epoch lr*gamma^(epoch//step_size),
      or cosine from lr to min_lr over the remaining steps, t = s - warm.
    """
    epochs, spe, lr = 10, 7, 0.1
    total = epochs * spe
    t = []

    def record(tag, kind, step_size, gamma, min_lr, warm_ep, lrs):
        t.append(("cfg." + tag, [kind, lr, step_size, gamma, min_lr, warm_ep,
                                 epochs, spe]))
        t.append(("lr." + tag, np.asarray(lrs, dtype=np.float64)))

    def run(make, per_epoch):
        p = nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=lr)
        sch = make(opt)
        out = []
        for e in range(epochs):
            for s in range(spe):
                out.append(opt.param_groups[0]["lr"])
                opt.step()
                if not per_epoch:
                    sch.step()
            if per_epoch:
                sch.step()
        return out

    record("constant", CONSTANT, 0, 1.0, 0.0, 0,
           run(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1.0), False))
    record("step", STEP, 3, 0.5, 0.0, 0,
           run(lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5), True))
    record("cosine", COSINE, 0, 1.0, 1e-3, 0,
           run(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, total, 1e-3), False))

    warm = 2 * spe

    def warm_then(after):
        def f(s):
            if s < warm:
                return (s + 1) / warm
            return after(s)
        return f

    cos_min = 1e-3

    def cosine_after(s):
        c = 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm)))
        return (cos_min + (lr - cos_min) * c) / lr

    record("warm_constant", CONSTANT, 0, 1.0, 0.0, 2,
           run(lambda o: torch.optim.lr_scheduler.LambdaLR(o, warm_then(lambda s: 1.0)), False))
    record("warm_step", STEP, 3, 0.5, 0.0, 2,
           run(lambda o: torch.optim.lr_scheduler.LambdaLR(
               o, warm_then(lambda s: 0.5 ** ((s // spe) // 3))), False))
    record("warm_cosine", COSINE, 0, 1.0, cos_min, 2,
           run(lambda o: torch.optim.lr_scheduler.LambdaLR(o, warm_then(cosine_after)), False))
    return write_dcfx(name, t)


# ---------------------------------------------------------------------------
# LeNet-5, two whole SGD steps (for the model-level test the lead writes)

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


def lenet_case(name, seed):
    torch.manual_seed(seed)
    model = LeNet5()
    x1 = torch.randn(16, 1, 28, 28)
    y1 = torch.randint(0, 10, (16,))
    x2 = torch.randn(16, 1, 28, 28)
    y2 = torch.randint(0, 10, (16,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, foreach=False)
    names = [k for k, _ in model.named_parameters()]
    t = [("hyper", [0.05, 0.9]), ("input", x1), ("labels", y1),
         ("input2", x2), ("labels2", y2)]
    # clone: the optimizer updates parameters (and zero_grad the grads) in place
    t += [(k, v.detach().clone()) for k, v in model.named_parameters()]
    opt.zero_grad()
    loss = F.cross_entropy(model(x1), y1)
    loss.backward()
    t.append(("loss", loss.detach().reshape(1)))
    t += [("grad." + k, v.grad.detach().clone()) for k, v in model.named_parameters()]
    opt.step()
    t += [("after1." + k, v.detach().clone()) for k, v in model.named_parameters()]
    opt.zero_grad()
    loss2 = F.cross_entropy(model(x2), y2)
    loss2.backward()
    opt.step()
    t.append(("loss2", loss2.detach().reshape(1)))
    t += [("after2." + k, v.detach().clone()) for k, v in model.named_parameters()]
    assert names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                     "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                     "fc3.weight", "fc3.bias"]
    return write_dcfx(name, t)


# ---------------------------------------------------------------------------

def main():
    os.makedirs(OUT, exist_ok=True)
    sizes = {}

    def add(name, fn, *a, **kw):
        sizes[name] = fn(name, *a, **kw)

    add("conv2d_lenet1", conv_case, 1, 2, 1, 28, 28, 6, 5, 1, 2)
    add("conv2d_lenet2", conv_case, 2, 2, 6, 14, 14, 16, 5, 1, 0)
    add("conv2d_odd_s2", conv_case, 3, 3, 3, 7, 9, 4, 3, 2, 1)
    add("conv2d_1x1", conv_case, 4, 1, 2, 5, 5, 3, 1, 1, 0)
    add("conv2d_k4s3p2", conv_case, 5, 2, 3, 8, 8, 5, 4, 3, 2)
    add("maxpool_lenet", maxpool_case, 10, 2, 6, 28, 28, 2, 2, False)
    add("maxpool_k3s2_ties", maxpool_case, 11, 2, 3, 7, 7, 3, 2, True)
    add("maxpool_k2s2_ties", maxpool_case, 12, 2, 3, 8, 8, 2, 2, True)
    add("avgpool_k2s2", avgpool_case, 20, 2, 3, 8, 8, 2, 2)
    add("avgpool_k3s2", avgpool_case, 21, 1, 2, 7, 7, 3, 2)
    add("relu", act_case, 30, torch.relu)
    add("tanh", act_case, 31, torch.tanh)
    add("sigmoid", act_case, 32, torch.sigmoid)
    add("linear_fc1", linear_case, 40, 64, 400, 120)
    add("linear_small", linear_case, 41, 5, 7, 3)
    add("linear_1x1x1", linear_case, 42, 1, 1, 1)
    add("xent", xent_case, 50, 8, 10, False)
    add("xent_weighted", xent_case, 51, 8, 10, True)
    add("distill", distill_case, 52, 8, 10, 0.5, 4.0, False)
    add("distill_weighted_t2", distill_case, 53, 8, 10, 0.9, 2.0, True)
    add("optim_sgd_momentum", optim_case, 60, SGD, 0.1, momentum=0.9)
    add("optim_sgd_nesterov_wd", optim_case, 61, SGD, 0.1, momentum=0.9,
        nesterov=True, wd=1e-2)
    add("optim_sgd_wd", optim_case, 62, SGD, 0.1, wd=1e-2)
    add("optim_adam", optim_case, 63, ADAM, 1e-3)
    add("optim_adam_wd", optim_case, 64, ADAM, 1e-3, wd=1e-2)
    add("optim_adamw", optim_case, 65, ADAMW, 1e-3, wd=1e-2)
    add("clip_grad_norm", clip_case, 70)
    add("schedule", sched_case)
    add("lenet5_step", lenet_case, 80)
    total = sum(sizes.values())
    for k, v in sizes.items():
        print("%-26s %8d bytes" % (k + ".dcfx", v))
    print("%-26s %8d bytes" % ("total", total))


if __name__ == "__main__":
    sys.exit(main())
