#!/usr/bin/python3
"""gen_fixtures_graph.py - PyTorch reference fixtures for the graph ops:
BatchNorm2d, GroupNorm, LayerNorm (src/layers/norm.c), global average pool,
residual add and channel concat (src/layers/merge.c).

Run from the repository root (Debian's python3-torch 1.13 and numpy):

    /usr/bin/python3 tests/gen_fixtures_graph.py

It rewrites only the tests/fixtures/*.dcfx files it names below, in the
container format of tests/gen_fixtures.py (whose writer it imports; the
format is documented there and read by tests/fixture.h). Deterministic and
idempotent: a fixed seed per case, one thread, byte-identical reruns.

Inputs are drawn in float32 and stored as such. The reference for the
normalisations and the pool is computed in float64 from those very float32
values (the module converted with .double()) and rounded to float32 once at
the end: the exact answer to within 6e-8 relative, so the C test measures
our own error, not the sum of ours and torch's. torch's own float32 answer
is stored too for the BatchNorm and GroupNorm main cases ("*_t32" tensors),
so the test can print how far float32 PyTorch itself is from the float64
answer. Add and concat have no rounding to speak of and run in float32.

Each case stores its inputs, the forward output, and the gradients of
loss = (y * dy).sum() for a random upstream gradient dy, plus a "cfg"
tensor with the shape integers the C test passes.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no tests/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_dcfx  # noqa: E402  (also sets threads/determinism)

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def f64(t):
    """A float64 leaf with the same values as the float32 tensor t."""
    return t.detach().to(torch.float64).requires_grad_()


def grads(y, dy, *leaves):
    (y * dy).sum().backward()
    return [l.grad.detach().clone() for l in leaves]


# ---------------------------------------------------------------------------
# BatchNorm2d

def bn_input(N, C, H, W, offsets):
    """x (N,C,H,W) float32; channel c is offsets[c] = (mean, std) shifted."""
    x = torch.randn(N, C, H, W)
    for c, (m, s) in enumerate(offsets[:C]):
        x[:, c] = x[:, c] * s + m
    return x


def bn_case(name, seed, N, C, H, W, train, affine=True, offsets=(), t32=False):
    torch.manual_seed(seed)
    offsets = list(offsets) + [(0.0, 1.0)] * C
    x = bn_input(N, C, H, W, offsets)
    gamma = torch.rand(C) + 0.5
    beta = torch.randn(C) * 0.5
    rm0 = torch.randn(C) * 0.3
    rv0 = torch.rand(C) + 0.5
    nbt0 = 3
    dy = torch.randn(N, C, H, W)

    def run(dtype):
        bn = nn.BatchNorm2d(C, eps=1e-5, momentum=0.1, affine=affine).to(dtype)
        with torch.no_grad():
            if affine:
                bn.weight.copy_(gamma)
                bn.bias.copy_(beta)
            bn.running_mean.copy_(rm0)
            bn.running_var.copy_(rv0)
            bn.num_batches_tracked.fill_(nbt0)
        bn.train(train)
        xv = x.detach().to(dtype).requires_grad_()
        y = bn(xv)
        leaves = [xv] + ([bn.weight, bn.bias] if affine else [])
        g = grads(y, dy.to(dtype), *leaves)
        return bn, y, g

    bn, y, g = run(torch.float64)
    t = [("cfg", [N, C, H, W, 1 if train else 0, 1 if affine else 0]),
         ("x", x), ("dy", dy), ("running_mean0", rm0), ("running_var0", rv0),
         ("num_batches_tracked0", [nbt0])]
    if affine:
        t += [("gamma", gamma), ("beta", beta)]
    t += [("y", y), ("dx", g[0])]
    if affine:
        t += [("dgamma", g[1]), ("dbeta", g[2])]
    t += [("running_mean", bn.running_mean), ("running_var", bn.running_var),
          ("num_batches_tracked", bn.num_batches_tracked.reshape(1))]
    if t32:
        _, y32, g32 = run(torch.float32)
        t += [("y_t32", y32), ("dx_t32", g32[0])]
        report_t32(name, [("y", y32, y), ("dx", g32[0], g[0])])
    return write_dcfx(name, t)


def report_t32(name, pairs):
    for what, a, ref in pairs:
        d = (a.detach().double() - ref.detach()).abs()
        scale = ref.detach().abs().max()
        print("  %s %s: torch float32 vs float64 max abs %.3g (%.3g of max |ref|)"
              % (name, what, float(d.max()), float(d.max() / scale)))


# ---------------------------------------------------------------------------
# GroupNorm, LayerNorm

def gn_case(name, seed, N, C, H, W, G, affine=True, t32=False):
    torch.manual_seed(seed)
    x = torch.randn(N, C, H, W) * 1.5 + 0.7
    gamma = torch.rand(C) + 0.5
    beta = torch.randn(C) * 0.5
    dy = torch.randn(N, C, H, W)

    def run(dtype):
        gn = nn.GroupNorm(G, C, eps=1e-5, affine=affine).to(dtype)
        if affine:
            with torch.no_grad():
                gn.weight.copy_(gamma)
                gn.bias.copy_(beta)
        xv = x.detach().to(dtype).requires_grad_()
        y = gn(xv)
        leaves = [xv] + ([gn.weight, gn.bias] if affine else [])
        return y, grads(y, dy.to(dtype), *leaves)

    y, g = run(torch.float64)
    t = [("cfg", [N, C, H, W, G, 1 if affine else 0]), ("x", x), ("dy", dy)]
    if affine:
        t += [("gamma", gamma), ("beta", beta)]
    t += [("y", y), ("dx", g[0])]
    if affine:
        t += [("dgamma", g[1]), ("dbeta", g[2])]
    if t32:
        y32, g32 = run(torch.float32)
        t += [("y_t32", y32), ("dx_t32", g32[0])]
        report_t32(name, [("y", y32, y), ("dx", g32[0], g[0])])
    return write_dcfx(name, t)


def ln_case(name, seed, N, shape, affine=True):
    """LayerNorm over the per-sample shape (C,H,W) or (D,)."""
    torch.manual_seed(seed)
    x = torch.randn(N, *shape) * 2.0 - 1.0
    D = 1
    for s in shape:
        D *= s
    gamma = torch.rand(*shape) + 0.5
    beta = torch.randn(*shape) * 0.5
    dy = torch.randn(N, *shape)
    ln = nn.LayerNorm(list(shape), eps=1e-5, elementwise_affine=affine).double()
    if affine:
        with torch.no_grad():
            ln.weight.copy_(gamma)
            ln.bias.copy_(beta)
    xv = f64(x)
    y = ln(xv)
    leaves = [xv] + ([ln.weight, ln.bias] if affine else [])
    g = grads(y, dy.double(), *leaves)
    t = [("cfg", [N, D, 1 if affine else 0]), ("x", x), ("dy", dy)]
    if affine:
        t += [("gamma", gamma), ("beta", beta)]
    t += [("y", y), ("dx", g[0])]
    if affine:
        t += [("dgamma", g[1]), ("dbeta", g[2])]
    return write_dcfx(name, t)


# ---------------------------------------------------------------------------
# Global average pool, add, concat

def gap_case(name, seed, N, C, H, W):
    torch.manual_seed(seed)
    x = torch.randn(N, C, H, W) + 0.3
    xv = f64(x)
    y = F.adaptive_avg_pool2d(xv, 1).reshape(N, C)
    dy = torch.randn(N, C)
    (dx,) = grads(y, dy.double(), xv)
    return write_dcfx(name, [("cfg", [N, C, H, W]), ("x", x), ("y", y), ("dy", dy),
                             ("dx", dx)])


def add_case(name, seed, shape):
    torch.manual_seed(seed)
    a = torch.randn(*shape, requires_grad=True)
    b = torch.randn(*shape, requires_grad=True)
    y = a + b
    dy = torch.randn(*shape)
    da, db = grads(y, dy, a, b)
    return write_dcfx(name, [("a", a), ("b", b), ("y", y), ("dy", dy), ("da", da),
                             ("db", db)])


def concat_case(name, seed, N, Cs, H, W):
    torch.manual_seed(seed)
    xs = [torch.randn(N, c, H, W, requires_grad=True) for c in Cs]
    y = torch.cat(xs, dim=1)
    dy = torch.randn_like(y)
    dxs = grads(y, dy, *xs)
    t = [("cfg", [N, H, W] + list(Cs))]
    t += [("x%d" % k, v) for k, v in enumerate(xs)]
    t += [("y", y), ("dy", dy)]
    t += [("dx%d" % k, v) for k, v in enumerate(dxs)]
    return write_dcfx(name, t)


# ---------------------------------------------------------------------------

def main():
    sizes = {}

    def add(name, fn, *a, **kw):
        sizes[name] = fn(name, *a, **kw)

    # channel 1 sits far from zero (|mean|/std = 6), channel 2 further (50):
    # the forward must subtract the mean before scaling
    off = [(0.0, 1.0), (3.0, 0.5), (-5.0, 0.1)]
    add("bn_train_c3_5x7", bn_case, 100, 5, 3, 5, 7, True, offsets=off, t32=True)
    add("bn_train_c8_6x6", bn_case, 101, 4, 8, 6, 6, True)
    add("bn_train_n2_1x1", bn_case, 102, 2, 4, 1, 1, True)       # M = N*HW = 2
    add("bn_train_n1_1x2", bn_case, 103, 1, 3, 1, 2, True)       # M = 2 from one sample
    add("bn_train_noaffine", bn_case, 104, 3, 2, 4, 4, True, affine=False)
    add("bn_eval_c3_5x7", bn_case, 105, 5, 3, 5, 7, False, offsets=off)
    add("bn_eval_n1_1x1", bn_case, 106, 1, 4, 1, 1, False)       # N = 1 and HW = 1
    add("bn_eval_noaffine", bn_case, 107, 2, 3, 2, 3, False, affine=False)
    add("gn_g1", gn_case, 110, 3, 6, 4, 5, 1, t32=True)
    add("gn_g6", gn_case, 111, 3, 6, 4, 5, 6)                     # G = C
    add("gn_g2", gn_case, 112, 3, 6, 4, 5, 2)
    add("gn_g3_1x1", gn_case, 113, 2, 6, 1, 1, 3)                 # groups of 2 values
    add("gn_g2_noaffine", gn_case, 114, 2, 6, 3, 3, 2, affine=False)
    add("ln_chw", ln_case, 120, 3, (4, 3, 5))
    add("ln_d37", ln_case, 121, 4, (37,))
    add("ln_d10_noaffine", ln_case, 122, 2, (10,), affine=False)
    add("gap_5x7", gap_case, 130, 3, 4, 5, 7)
    add("gap_1x1", gap_case, 131, 2, 3, 1, 1)
    add("add", add_case, 140, (2, 3, 4, 5))
    add("concat3", concat_case, 141, 2, (2, 3, 1), 4, 3)
    total = sum(sizes.values())
    for k, v in sizes.items():
        print("%-26s %8d bytes" % (k + ".dcfx", v))
    print("%-26s %8d bytes" % ("total", total))


if __name__ == "__main__":
    sys.exit(main())
