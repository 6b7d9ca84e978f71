#!/usr/bin/python3
"""gen_fixtures_resnet.py - PyTorch reference for whole ResNet training steps.

Run from the repository root with Debian's python3-torch (1.13):

    /usr/bin/python3 tests/gen_fixtures_resnet.py

It writes tests/fixtures/resnet8_step.dcfx: the model of bench/torch_models.py
(deepc's resnet8 with deepc's state_dict names) on 1x28x28 inputs with 10
classes, its initial parameters and BatchNorm state, a batch of 12 random
inputs and labels, and after ONE SGD step (lr 0.1, momentum 0.9, Nesterov,
weight decay 5e-4, train mode) the loss, the logits, every gradient, every
updated parameter and every running statistic; then the eval-mode logits of
a second batch with the updated model (what dc_session must reproduce).
Deterministic (fixed seed, one thread): two runs give the same bytes.
The container format is tests/gen_fixtures.py's (its writer is imported).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from gen_fixtures import write_dcfx  # noqa: E402  (sets threads and determinism)
from torch_models import build  # noqa: E402


def resnet_step_case(name, arch, seed, N):
    torch.manual_seed(seed)
    model = build(arch, in_ch=1, classes=10, hw=28)
    # non-trivial BatchNorm state, so the running-statistics update is tested
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
            mod.num_batches_tracked.fill_(3)
    sd0 = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(N, 1, 28, 28)
    y = torch.randint(0, 10, (N,))
    x2 = torch.randn(N, 1, 28, 28)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    opt.step()
    model.eval()
    with torch.no_grad():
        eval_logits = model(x2)
    out = [("hyper", torch.tensor([0.1, 0.9, 1.0, 5e-4]))]
    out += [("before." + k, v) for k, v in sd0.items()]
    out += [("input", x), ("labels", y), ("input2", x2), ("loss", loss.detach().reshape(1)),
            ("logits", logits.detach())]
    out += [("grad." + k, v) for k, v in grads.items()]
    out += [("after." + k, v) for k, v in model.state_dict().items()]
    out += [("eval_logits", eval_logits)]
    n = write_dcfx(name, out)
    print("%s: %d tensors, %d bytes" % (name, len(out), n))


def main():
    resnet_step_case("resnet8_step", "resnet8", 20261201, 12)


if __name__ == "__main__":
    main()
