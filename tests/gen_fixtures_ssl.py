#!/usr/bin/python3
"""gen_fixtures_ssl.py - PyTorch reference fixtures for self-supervised
pretraining (src/ssl/): the NT-Xent loss and its gradient, the BYOL and
SimSiam cosine losses with their stop-gradient, BYOL's moving-average target
update and its tau schedule, and one whole training step of each method
through a small network with BatchNorm in its projector and predictor.

Run from the repository root (Debian's python3-torch 1.13 and numpy):

    /usr/bin/python3 tests/gen_fixtures_ssl.py

It rewrites only tests/fixtures/ssl_*.dcfx, in the container format of
tests/gen_fixtures.py (whose writer it imports; the format is documented
there and read by tests/fixture.h). Deterministic and idempotent: a fixed
seed per case, one thread, byte-identical reruns.

Inputs are drawn in float32 and stored as such; the references are computed
in float64 from those float32 values and rounded once, so the C test
measures deepc's own float32 error. The moving-average update is the one
exception: it is computed as BYOL implementations do it, in float32
(target.mul_(tau).add_(online, alpha=1 - tau)).

The losses, as deepc defines them (src/ssl/ssl.h):
  NT-Xent   u = F.normalize(z); s = u u^T / T with the diagonal masked;
            loss = F.cross_entropy(s, (arange(2N) + N) % 2N)
  BYOL      loss = mean_i (2 - 2 cos(p_i, t_pair(i))), t detached
  SimSiam   loss = mean_i (-cos(p_i, z_pair(i))), z detached
with cos the dot product of F.normalize'd rows and pair(i) = (i + N) % 2N.
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no tests/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_dcfx  # noqa: E402  (also sets threads/determinism)

torch.set_num_threads(1)


def pair_index(n2):
    return (torch.arange(n2) + n2 // 2) % n2


def ntxent(z, T):
    n2 = z.shape[0]
    u = F.normalize(z, dim=1)
    s = u @ u.t() / T
    s = s.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(s, pair_index(n2))


def cosine_loss(p, t, a, b):
    cos = (F.normalize(p, dim=1) * F.normalize(t[pair_index(p.shape[0])], dim=1)).sum(1)
    return (a - b * cos).mean()


# ---------------------------------------------------------------------------
# Losses

def ntxent_case(name, seed, N, D, T):
    torch.manual_seed(seed)
    z32 = torch.randn(2 * N, D) * 1.5
    z = z32.double().requires_grad_()
    loss = ntxent(z, T)
    loss.backward()
    write_dcfx(name, [("cfg", torch.tensor([2 * N, D, T])), ("z", z32), ("loss", loss.detach().reshape(())),
                      ("dz", z.grad)])


def cosine_case(name, seed, N, D):
    torch.manual_seed(seed)
    p32, t32 = torch.randn(2 * N, D), torch.randn(2 * N, D)
    out = [("cfg", torch.tensor([2 * N, D])), ("p", p32), ("t", t32)]
    for tag, a, b in (("byol", 2.0, 2.0), ("simsiam", 0.0, 1.0)):
        p = p32.double().requires_grad_()
        t = t32.double().requires_grad_()
        loss = cosine_loss(p, t.detach(), a, b)
        loss.backward()
        assert t.grad is None  # the stop-gradient: nothing reaches the target
        out += [("loss_" + tag, loss.detach().reshape(())), ("dp_" + tag, p.grad)]
    write_dcfx(name, out)


def ema_case(name, seed):
    torch.manual_seed(seed)
    online, target = torch.randn(37), torch.randn(37)
    tau = 0.99
    new = target.clone()
    new.mul_(tau).add_(online, alpha=1 - tau)
    base, total = 0.996, 10
    taus = [1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2 for k in range(total + 1)]
    write_dcfx(name, [("cfg", torch.tensor([tau, base, total])), ("online", online), ("target", target),
                      ("target_new", new), ("taus", torch.tensor(taus, dtype=torch.float64))])


# ---------------------------------------------------------------------------
# One view: crop + bilinear resize (F.interpolate, align_corners=False),
# flip, brightness (clamped), contrast (blend with the mean, clamped), and a
# Gaussian blur with reflected borders (torchvision's kernel: linspace over
# the kernel size, exp(-x^2 / 2 sigma^2), normalised), on a C=1 image.

def view_case(name, seed, H, W, box, flip, bright, contrast, sigma, radius):
    g = torch.Generator().manual_seed(seed)
    px = torch.randint(0, 256, (1, H, W), generator=g).double()
    img = px / 255.0
    x0, y0, cw, ch = box
    crop = img[:, y0:y0 + ch, x0:x0 + cw]
    v = F.interpolate(crop[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    if flip:
        v = v.flip(-1)
    v = (v * bright).clamp(0, 1)
    v = (contrast * v + (1 - contrast) * v.mean()).clamp(0, 1)
    if sigma > 0:
        k = 2 * radius + 1
        xs = torch.linspace(-radius, radius, k, dtype=torch.float64)
        ker = torch.exp(-0.5 * (xs / sigma) ** 2)
        ker = ker / ker.sum()
        vv = F.pad(v[None], (radius, radius, 0, 0), mode="reflect")
        v = F.conv2d(vv, ker.view(1, 1, 1, k))
        vv = F.pad(v, (0, 0, radius, radius), mode="reflect")
        v = F.conv2d(vv, ker.view(1, 1, k, 1))[0].clamp(0, 1)
    write_dcfx(name, [("cfg", torch.tensor([H, W, x0, y0, cw, ch, float(flip), bright, contrast, sigma])),
                      ("px", px), ("view", v)])


# ---------------------------------------------------------------------------
# One training step through a small network
#
# base model (deepc text): flatten name=flat; linear out=6 name=enc;
# relu name=act; (head dropped). Projector: proj.fc1 (8) proj.bn1 relu
# proj.fc2 (5) [+ proj.bn2 for SimSiam]; predictor: pred.fc1 (7) pred.bn1
# relu pred.fc2 (5). BatchNorm1d on (2N, C) is deepc's batchnorm2d on
# (2N, C, 1, 1).

class Net(nn.Module):
    def __init__(self, method, with_pred=True):
        super().__init__()
        self.method = method
        self.enc = nn.Linear(16, 6)
        self.proj = nn.ModuleDict({"fc1": nn.Linear(6, 8), "bn1": nn.BatchNorm1d(8), "fc2": nn.Linear(8, 5)})
        if method == "simsiam":
            self.proj["bn2"] = nn.BatchNorm1d(5)
        self.with_pred = with_pred and method != "simclr"
        if self.with_pred:
            self.pred = nn.ModuleDict({"fc1": nn.Linear(5, 7), "bn1": nn.BatchNorm1d(7), "fc2": nn.Linear(7, 5)})

    def project(self, x):
        h = torch.relu(self.enc(x.flatten(1)))
        z = self.proj["fc2"](torch.relu(self.proj["bn1"](self.proj["fc1"](h))))
        if "bn2" in self.proj:
            z = self.proj["bn2"](z)
        return z

    def forward(self, x):
        z = self.project(x)
        if not self.with_pred:
            return z, z
        p = self.pred["fc2"](torch.relu(self.pred["bn1"](self.pred["fc1"](z))))
        return z, p


def randomise(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("running_mean"):
                t.copy_(0.3 * torch.randn(t.shape, generator=g))
            elif ".bn" in name and name.endswith("weight"):
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=g))
            else:
                t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(t.shape[-1] if t.dim() > 1 else 4))
            t.copy_(t.float().double())  # float32 values, held in float64


def step_case(name, method, seed):
    torch.manual_seed(seed)
    N = 4
    x1, x2 = torch.randn(N, 1, 4, 4), torch.randn(N, 1, 4, 4)
    net = Net(method).double()
    randomise(net, seed + 1)
    out = [("x1", x1), ("x2", x2)]
    out += [(k, v.float()) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    target = None
    if method == "byol":
        target = Net(method, with_pred=False).double()
        randomise(target, seed + 2)
        out += [("target." + k, v.float()) for k, v in target.state_dict().items()
                if not k.endswith("num_batches_tracked")]
    lr, T, tau = 0.1, 0.5, 0.9
    x = torch.cat([x1, x2]).double()
    net.train()
    if method == "simsiam":
        # what a missing stop-gradient would give (the C test must differ)
        probe = Net(method).double()
        probe.load_state_dict(net.state_dict())
        z, p = probe(x)
        cosine_loss(p, z, 0.0, 1.0).backward()
        out += [("grad_nostop." + k, v.grad.float()) for k, v in probe.named_parameters()]
    z, p = net(x)
    if method == "simclr":
        loss = ntxent(z, T)
    elif method == "simsiam":
        loss = cosine_loss(p, z.detach(), 0.0, 1.0)
    else:
        with torch.no_grad():
            target.train()
            t, _ = target(x)
        loss = cosine_loss(p, t, 2.0, 2.0)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    opt.zero_grad()
    loss.backward()
    out += [("loss", loss.detach().reshape(()))]
    out += [("grad." + k, v.grad) for k, v in net.named_parameters()]
    opt.step()
    out += [("new." + k, v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    if method == "byol":
        with torch.no_grad():
            online = dict(net.named_parameters())
            for k, v in target.named_parameters():
                v.mul_(tau).add_(online[k], alpha=1 - tau)
        out += [("target_new." + k, v) for k, v in target.state_dict().items()
                if not k.endswith("num_batches_tracked")]
    out.insert(0, ("cfg", torch.tensor([N, lr, T, tau])))
    write_dcfx(name, out)


def main():
    ntxent_case("ssl_ntxent_a", 1, 4, 8, 0.5)
    ntxent_case("ssl_ntxent_b", 2, 5, 3, 0.1)   # odd batch, narrow, sharp temperature
    ntxent_case("ssl_ntxent_c", 3, 1, 17, 1.0)  # one pair: a single negative-free softmax
    ntxent_case("ssl_ntxent_d", 12, 100, 24, 0.2)  # 200 rows: large enough for dc_ntxent's parallel rows
    cosine_case("ssl_cosine", 4, 3, 5)
    view_case("ssl_view_a", 9, 6, 7, (1, 2, 4, 3), True, 1.3, 0.7, 0.8, 1)    # upscaled crop, all stages
    view_case("ssl_view_b", 10, 28, 28, (3, 0, 20, 26), False, 0.6, 1.4, 1.7, 1)  # MNIST size
    view_case("ssl_view_c", 11, 5, 9, (0, 0, 9, 5), True, 1.0, 1.0, 0.0, 1)  # no crop, flip only
    ema_case("ssl_ema", 5)
    step_case("ssl_step_simclr", "simclr", 6)
    step_case("ssl_step_byol", "byol", 7)
    step_case("ssl_step_simsiam", "simsiam", 8)


if __name__ == "__main__":
    main()
