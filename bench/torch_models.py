"""torch_models.py — deepc's built-in architectures as PyTorch modules, plus an
analytic FLOP count for each.

The modules follow /work/notes/resnet_spec.md (deepc's contract) exactly: the
state_dict names are the ones deepc writes, so a deepc checkpoint loads here
with strict=True and the other way round. Works with torch 1.13 (Debian) and
2.x (PyPI); needs nothing but torch (torchvision is not installed here, so
resnet18 is written out with torchvision's names and init).

  build(arch, in_ch=1, classes=10, hw=28) -> nn.Module
      arch: resnet8 | resnet20 | resnet32 | resnet18 | lenet5 | alexnet | mcmahan_cnn
  layer_table(arch, in_ch=1, classes=10, hw=28) -> list of dicts
      one row per conv/linear layer: name, kind, in/out shape (C,H,W or features),
      forward multiply-adds per image, parameters, first (True for the layer
      that reads the image)
  flops(arch, in_ch=1, classes=10, hw=28) -> dict
      per image: forward_macs, backward_macs, forward_flops, train_flops,
      plus 'left_out' (element counts of the ops not counted)

Counting rule (one rule for every architecture, the one bench/run.sh states
for LeNet-5): the forward pass is the multiply-adds of every convolution
(out_c*out_h*out_w * in_c/groups*kh*kw) and every linear layer (in*out).
Training = forward + a weight gradient for every parameterised layer (same
multiply-adds as its forward) + an input gradient for every layer except the
first (its input is the image, which neither deepc nor PyTorch differentiates;
same multiply-adds again). One multiply-add counts as 2 flops. Left out:
bias adds, BatchNorm, ReLU, pooling, residual adds, softmax/cross-entropy and
the optimizer: elementwise work that is a few percent of the total for these
models (`left_out` gives the element counts so the share can be checked).

`python bench/torch_models.py` prints each architecture's layer table and
totals and checks (exits 1 on failure): state_dict names and parameter
counts against the spec, and the analytic per-layer multiply-adds against
ones measured with forward hooks on the real modules.
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCHS = ("resnet8", "resnet20", "resnet32", "resnet18", "lenet5", "alexnet", "mcmahan_cnn")


# ---------------------------------------------------------------------------
# CIFAR-style ResNet (He et al. 2016, sec. 4.2) and torchvision's BasicBlock

class BasicBlock(nn.Module):
    """conv3x3(s)-bn-relu-conv3x3-bn, + identity or downsample (1x1 conv s + bn), relu.

    The same block (and the same names: conv1, bn1, conv2, bn2, downsample.0,
    downsample.1) as torchvision.models.resnet.BasicBlock.
    """

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x if self.downsample is None else self.downsample(x)
        return F.relu(out + sc)


def _torchvision_init(model):
    # torchvision.models.resnet.ResNet.__init__: every Conv2d kaiming_normal_
    # (fan_out, relu), every BatchNorm weight 1 bias 0; Linear keeps
    # PyTorch's default init.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


class CifarResNet(nn.Module):
    """Depth 6n+2: conv1 16, layer1 n x 16, layer2 n x 32 (s2), layer3 n x 64 (s2), gap, fc."""

    def __init__(self, n, in_ch=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, n, 1)
        self.layer2 = self._stage(16, 32, n, 2)
        self.layer3 = self._stage(32, 64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)
        _torchvision_init(self)

    @staticmethod
    def _stage(cin, cout, n, stride):
        return nn.Sequential(BasicBlock(cin, cout, stride),
                             *[BasicBlock(cout, cout, 1) for _ in range(n - 1)])

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResNet18(nn.Module):
    """torchvision.models.resnet18(num_classes=K) with conv1 = Conv2d(C,64,3,1,1,bias=False)
    and maxpool = Identity, written out (same module names, same init).

    torchvision initialises the model first and then the user replaces conv1,
    so conv1 keeps PyTorch's default Conv2d init (kaiming_uniform a=sqrt(5)),
    not kaiming_normal_: reproduced here.
    """

    def __init__(self, in_ch=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)  # replaced below, as a user does
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256, 1))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512, 1))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)
        _torchvision_init(self)
        self.conv1 = nn.Conv2d(in_ch, 64, 3, 1, 1, bias=False)
        self.maxpool = nn.Identity()

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------------------
# Plain CNNs (PyTorch default init)

class LeNet5(nn.Module):
    def __init__(self, in_ch=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class AlexNetSmall(nn.Module):
    def __init__(self, in_ch=1, classes=10, hw=28):
        super().__init__()
        s = hw // 8  # three 2x2 max-pools: 28 -> 3, 32 -> 4
        self.conv1 = nn.Conv2d(in_ch, 64, 3, 1, 1)
        self.conv2 = nn.Conv2d(64, 192, 3, 1, 1)
        self.conv3 = nn.Conv2d(192, 384, 3, 1, 1)
        self.conv4 = nn.Conv2d(384, 256, 3, 1, 1)
        self.conv5 = nn.Conv2d(256, 256, 3, 1, 1)
        self.drop1 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(256 * s * s, 1024)
        self.drop2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(1024, 1024)
        self.fc3 = nn.Linear(1024, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv4(F.relu(self.conv3(x))))
        x = F.max_pool2d(F.relu(self.conv5(x)), 2)
        x = self.drop1(torch.flatten(x, 1))
        x = self.drop2(F.relu(self.fc1(x)))
        return self.fc3(F.relu(self.fc2(x)))


class McMahanCNN(nn.Module):
    def __init__(self, in_ch=1, classes=10, hw=28):
        super().__init__()
        s = hw // 4
        self.conv1 = nn.Conv2d(in_ch, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * s * s, 512)
        self.fc2 = nn.Linear(512, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def build(arch, in_ch=1, classes=10, hw=28):
    """The PyTorch module for a deepc built-in architecture (fresh init from torch's RNG)."""
    if arch in ("resnet8", "resnet20", "resnet32"):
        return CifarResNet({"resnet8": 1, "resnet20": 3, "resnet32": 5}[arch], in_ch, classes)
    if arch == "resnet18":
        return ResNet18(in_ch, classes)
    if arch == "lenet5":
        if hw != 28:
            raise ValueError("lenet5 is defined for 28x28 inputs (fc1 is 400 wide)")
        return LeNet5(in_ch, classes)
    if arch == "alexnet":
        return AlexNetSmall(in_ch, classes, hw)
    if arch == "mcmahan_cnn":
        return McMahanCNN(in_ch, classes, hw)
    raise ValueError(f"unknown architecture '{arch}' (known: {', '.join(ARCHS)})")


# ---------------------------------------------------------------------------
# Analytic layer table and FLOP count (no module is built or run here)

def _conv_out(h, k, s, p):
    return (h + 2 * p - k) // s + 1


class _Table:
    """Collects conv/linear rows and the element counts of uncounted ops."""

    def __init__(self):
        self.rows = []
        self.left = {"batchnorm": 0, "relu": 0, "pool": 0, "residual_add": 0}

    def conv(self, name, shape, cout, k, s, p, bias):
        c, h, w = shape
        oh, ow = _conv_out(h, k, s, p), _conv_out(w, k, s, p)
        self.rows.append({"name": name, "kind": f"conv{k}x{k}/s{s}", "in": (c, h, w),
                          "out": (cout, oh, ow), "macs": cout * oh * ow * c * k * k,
                          "params": cout * c * k * k + (cout if bias else 0),
                          "first": not self.rows})
        return (cout, oh, ow)

    def linear(self, name, nin, nout):
        self.rows.append({"name": name, "kind": "linear", "in": (nin,), "out": (nout,),
                          "macs": nin * nout, "params": nin * nout + nout,
                          "first": not self.rows})
        return nout

    def elems(self, op, shape):
        self.left[op] += math.prod(shape)

    def pool2(self, shape):
        c, h, w = shape
        self.elems("pool", shape)
        return (c, h // 2, w // 2)


def _block(t, name, shape, cout, stride):
    cin = shape[0]
    a = t.conv(f"{name}.conv1", shape, cout, 3, stride, 1, False)
    t.elems("batchnorm", a); t.elems("relu", a)
    b = t.conv(f"{name}.conv2", a, cout, 3, 1, 1, False)
    t.elems("batchnorm", b)
    if stride != 1 or cin != cout:
        d = t.conv(f"{name}.downsample.0", shape, cout, 1, stride, 0, False)
        t.elems("batchnorm", d)
    t.elems("residual_add", b); t.elems("relu", b)
    return b


def layer_table(arch, in_ch=1, classes=10, hw=28):
    """Conv/linear rows for one image, in forward order (see the module docstring)."""
    return _analyse(arch, in_ch, classes, hw).rows


def _analyse(arch, in_ch, classes, hw):
    t = _Table()
    x = (in_ch, hw, hw)
    if arch in ("resnet8", "resnet20", "resnet32"):
        n = {"resnet8": 1, "resnet20": 3, "resnet32": 5}[arch]
        x = t.conv("conv1", x, 16, 3, 1, 1, False)
        t.elems("batchnorm", x); t.elems("relu", x)
        for li, (cout, s) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
            for i in range(n):
                x = _block(t, f"layer{li}.{i}", x, cout, s if i == 0 else 1)
        t.elems("pool", x)
        t.linear("fc", 64, classes)
    elif arch == "resnet18":
        x = t.conv("conv1", x, 64, 3, 1, 1, False)
        t.elems("batchnorm", x); t.elems("relu", x)
        for li, (cout, s) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=1):
            for i in range(2):
                x = _block(t, f"layer{li}.{i}", x, cout, s if i == 0 else 1)
        t.elems("pool", x)
        t.linear("fc", 512, classes)
    elif arch == "lenet5":
        x = t.conv("conv1", x, 6, 5, 1, 2, True); t.elems("relu", x); x = t.pool2(x)
        x = t.conv("conv2", x, 16, 5, 1, 0, True); t.elems("relu", x); x = t.pool2(x)
        f = t.linear("fc1", math.prod(x), 120); t.elems("relu", (f,))
        f = t.linear("fc2", f, 84); t.elems("relu", (f,))
        t.linear("fc3", f, classes)
    elif arch == "alexnet":
        for name, cout, pool in (("conv1", 64, True), ("conv2", 192, True), ("conv3", 384, False),
                                 ("conv4", 256, False), ("conv5", 256, True)):
            x = t.conv(name, x, cout, 3, 1, 1, True); t.elems("relu", x)
            if pool:
                x = t.pool2(x)
        f = t.linear("fc1", math.prod(x), 1024); t.elems("relu", (f,))
        f = t.linear("fc2", f, 1024); t.elems("relu", (f,))
        t.linear("fc3", f, classes)
    elif arch == "mcmahan_cnn":
        x = t.conv("conv1", x, 32, 5, 1, 2, True); t.elems("relu", x); x = t.pool2(x)
        x = t.conv("conv2", x, 64, 5, 1, 2, True); t.elems("relu", x); x = t.pool2(x)
        f = t.linear("fc1", math.prod(x), 512); t.elems("relu", (f,))
        t.linear("fc2", f, classes)
    else:
        raise ValueError(f"unknown architecture '{arch}' (known: {', '.join(ARCHS)})")
    return t


def flops(arch, in_ch=1, classes=10, hw=28):
    """Per-image forward and training FLOPs by the rule in the module docstring."""
    t = _analyse(arch, in_ch, classes, hw)
    fwd = sum(r["macs"] for r in t.rows)
    first = sum(r["macs"] for r in t.rows if r["first"])
    bwd = fwd + (fwd - first)  # weight grads of all + input grads of all but the first
    return {"arch": arch, "input": (in_ch, hw, hw), "classes": classes,
            "forward_macs": fwd, "backward_macs": bwd,
            "forward_flops": 2 * fwd, "train_flops": 2 * (fwd + bwd),
            "params": sum(r["params"] for r in t.rows), "left_out": dict(t.left)}


# ---------------------------------------------------------------------------
# Self-check: names against the spec, analytic MACs against hooks

def _expected_resnet_names(n):
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    names = ["conv1.weight"] + [f"bn1.{s}" for s in bn]
    for li in (1, 2, 3):
        for i in range(n):
            p = f"layer{li}.{i}"
            names += [f"{p}.conv1.weight"] + [f"{p}.bn1.{s}" for s in bn]
            names += [f"{p}.conv2.weight"] + [f"{p}.bn2.{s}" for s in bn]
            if li > 1 and i == 0:
                names += [f"{p}.downsample.0.weight"] + [f"{p}.downsample.1.{s}" for s in bn]
    return names + ["fc.weight", "fc.bias"]


def _hook_macs(model, x):
    macs = {}

    def hook(name):
        def f(m, inp, out):
            if isinstance(m, nn.Conv2d):
                kh, kw = m.kernel_size
                macs[name] = out.shape[1] * out.shape[2] * out.shape[3] * \
                    (m.in_channels // m.groups) * kh * kw
            else:
                macs[name] = m.in_features * m.out_features
        return f

    hs = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(x)
    for h in hs:
        h.remove()
    return macs


def _self_check():
    fails = 0

    def check(ok, msg):
        nonlocal fails
        if not ok:
            fails += 1
            print("FAIL: " + msg)

    for n, arch in ((1, "resnet8"), (3, "resnet20"), (5, "resnet32")):
        got = list(build(arch).state_dict().keys())
        check(got == _expected_resnet_names(n), f"{arch} state_dict names differ from the spec")
    sd = build("resnet18").state_dict()
    check(tuple(sd["conv1.weight"].shape) == (64, 1, 3, 3), "resnet18 conv1 shape")
    check("layer4.0.downsample.0.weight" in sd and "layer1.0.downsample.0.weight" not in sd,
          "resnet18 downsample names")
    check(sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k)
          == 11_172_810, "resnet18 parameter count (torchvision's 11,689,512 less the 7x7x3 "
          "conv1 and the 1000-class fc, plus 3x3x1 conv1 and a 10-class fc)")
    check(list(build("lenet5").state_dict().keys()) ==
          [f"{l}.{p}" for l in ("conv1", "conv2", "fc1", "fc2", "fc3") for p in ("weight", "bias")],
          "lenet5 names")
    check(list(build("mcmahan_cnn").state_dict().keys()) ==
          [f"{l}.{p}" for l in ("conv1", "conv2", "fc1", "fc2") for p in ("weight", "bias")],
          "mcmahan_cnn names")
    check(list(build("alexnet").state_dict().keys()) ==
          [f"{l}.{p}" for l in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3")
           for p in ("weight", "bias")], "alexnet names")
    # Init: resnet convs are kaiming_normal_(fan_out): std = sqrt(2 / (out_c*k*k)).
    torch.manual_seed(0)
    w = build("resnet20").layer3[1].conv1.weight
    std = math.sqrt(2.0 / (64 * 9))
    check(abs(w.std().item() / std - 1) < 0.05 and abs(w.mean().item()) < 0.1 * std,
          f"resnet20 conv init std {w.std().item():.4f}, expected {std:.4f}")

    for arch, hw, in_ch in [(a, 28, 1) for a in ARCHS] + [("resnet20", 32, 3), ("alexnet", 32, 3),
                                                          ("mcmahan_cnn", 32, 3)]:
        m = build(arch, in_ch=in_ch, hw=hw)
        hooked = _hook_macs(m, torch.zeros(2, in_ch, hw, hw))
        rows = {r["name"]: r for r in layer_table(arch, in_ch, 10, hw)}
        check(set(hooked) == set(rows), f"{arch} {hw}px: layer sets differ: "
              f"{sorted(set(hooked) ^ set(rows))}")
        for k in hooked:
            if k in rows:
                check(hooked[k] == rows[k]["macs"], f"{arch} {hw}px {k}: analytic "
                      f"{rows[k]['macs']} vs hooked {hooked[k]} MACs")
        nparam = sum(p.numel() for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))
                     for p in mod.parameters(recurse=False))
        check(nparam == flops(arch, in_ch, 10, hw)["params"],
              f"{arch} {hw}px: conv/linear parameters {nparam} vs table "
              f"{flops(arch, in_ch, 10, hw)['params']}")
    return fails


def main():
    for arch in ARCHS:
        f = flops(arch)
        print(f"{arch}: 1x28x28, 10 classes: {f['params']:,} conv/linear parameters, "
              f"forward {f['forward_macs']:,} MACs, train {f['train_flops']:,} FLOPs/image")
        if "-v" in sys.argv:
            for r in layer_table(arch):
                print(f"  {r['name']:<24} {r['kind']:<12} {str(r['out']):<16} {r['macs']:>12,}")
            print(f"  left out (elements): {f['left_out']}")
    fails = _self_check()
    print(f"self-check: {fails} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
