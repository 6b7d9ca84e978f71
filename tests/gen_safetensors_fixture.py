#!/usr/bin/env python3
"""Writes tests/fixtures/torch_written.safetensors with PyTorch's own writer.

tests/test_io.c reads the file and checks every value, so deepc's reader is
tested against files it did not write itself. Needs torch and the PyPI
package `safetensors` (only to regenerate the fixture; the C tests and CI do
not need Python):

    /usr/bin/python3 -m venv --system-site-packages /tmp/st-venv
    /tmp/st-venv/bin/pip install safetensors
    /tmp/st-venv/bin/python tests/gen_safetensors_fixture.py

The values are chosen to be exact in float32 so the C test can compare with ==:
  conv1.weight F32 (2,1,3,3): arange(18) * 0.5 - 4
  fc.bias      F32 (3)      : [0.25, -1.5, 3.0]
  step         I64 (2)      : [-7, 2**40 + 3]
  mask         U8  (5)      : [0, 1, 127, 128, 255]
  __metadata__              : {"format": "pt", "note": "hello"}
save_file sorts tensors by dtype alignment and name, so the U8 tensor lands
last and the header order differs from the order above; deepc looks tensors
up by name.
"""
import os

import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "fixtures", "torch_written.safetensors")
tensors = {
    "conv1.weight": (torch.arange(18, dtype=torch.float32) * 0.5 - 4).reshape(2, 1, 3, 3),
    "fc.bias": torch.tensor([0.25, -1.5, 3.0], dtype=torch.float32),
    "step": torch.tensor([-7, 2**40 + 3], dtype=torch.int64),
    "mask": torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8),
}
save_file(tensors, out, metadata={"format": "pt", "note": "hello"})
print("wrote", out, os.path.getsize(out), "bytes")
