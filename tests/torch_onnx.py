#!/usr/bin/python3
"""torch_onnx.py ARCH OUT.onnx IMAGES.npy LOGITS.npy - what a PyTorch user
hands deepc: the module of a built-in architecture (bench/torch_models.py,
seeded initialisation, BatchNorm running statistics randomised so folding
matters) exported by torch.onnx.export in eval mode (opset 13, dynamic batch,
PyTorch's own constant folding), and its logits for the images taken as
[0,1] pixels (x = px * float32(1/255), deepc's --no-norm arithmetic) saved
for tests/cli_onnx.sh to compare with deepc's. Needs Debian's python3-torch."""
import os
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from torch_models import build  # noqa: E402

arch, out, images, logits = sys.argv[1:5]
torch.manual_seed(7)
torch.set_num_threads(2)
model = build(arch)
g = torch.Generator().manual_seed(8)
for mod in model.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        with torch.no_grad():
            mod.running_mean.copy_(0.2 * (torch.rand(mod.num_features, generator=g) - 0.5))
            mod.running_var.copy_(0.5 + torch.rand(mod.num_features, generator=g))
            mod.weight.copy_(0.5 + torch.rand(mod.num_features, generator=g))
            mod.bias.copy_(torch.rand(mod.num_features, generator=g) - 0.5)
model.eval()
px = np.load(images)
x = torch.from_numpy((px.astype(np.float32) * np.float32(1.0 / 255.0)).astype(np.float32)).unsqueeze(1)
with torch.no_grad():
    np.save(logits, model(x).numpy())
    torch.onnx.export(model, x[:2], out, input_names=["input"], output_names=["logits"], opset_version=13,
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
