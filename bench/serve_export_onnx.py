"""serve_export_onnx.py — a deepc checkpoint as an ONNX file, for the ONNX
Runtime side of bench/serve.sh.

  /usr/bin/python3 bench/serve_export_onnx.py ARCH MODEL.safetensors OUT.onnx

Loads the checkpoint's tensors (tests/st_py.py: safetensors without the PyPI
package) into bench/torch_models.py's PyTorch module of the same built-in
architecture with strict=True (the state_dict names are deepc's), puts it in
eval mode and exports it with torch.onnx.export (opset 13, dynamic batch),
so ONNX Runtime runs the very weights deepc serves. Debian's torch 1.13 does
the export; the PyPI wheel is not needed. That ONNX Runtime then gives
deepc's answers is checked by bench/serve_onnx.py --check.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import st_py  # noqa: E402
import torch_models  # noqa: E402


def main(arch, path, out):
    tensors, meta = st_py.load(path)
    c, h, w = (int(v) for v in meta["deepc.input"].split(","))
    classes = len(__import__("json").loads(meta["deepc.classes"])) if "deepc.classes" in meta else 10
    net = torch_models.build(arch, in_ch=c, classes=classes, hw=h)
    sd = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items() if not k.startswith("optim.")}
    net.load_state_dict(sd, strict=True)
    net.eval()
    x = torch.zeros(1, c, h, w)
    torch.onnx.export(net, x, out, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    print("exported %s (%s, %dx%dx%d -> %d) to %s" % (path, arch, c, h, w, classes, out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
