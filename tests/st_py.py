"""st_py.py - the safetensors format in a few lines of Python (numpy only),
for tests that must run where the PyPI `safetensors` package is not
installed (Debian has none). Same layout as safetensors.torch.save_file:
u64 header length, JSON header {name: {dtype, shape, data_offsets}, ...,
"__metadata__": {str: str}}, padded with spaces to 8 bytes, then the data.
"""
import json
import struct

import numpy as np

_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "I8": np.int8}
_NAME = {np.dtype(v): k for k, v in _DT.items()}


def load(path):
    """-> (dict name -> numpy array, metadata dict)"""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, d in header.items():
        b, e = d["data_offsets"]
        a = np.frombuffer(data[base + b:base + e], dtype=_DT[d["dtype"]]).copy()
        out[name] = a.reshape(d["shape"])
    return out, meta


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (F32, F64, I64, I32 or U8)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.tobytes()
        header[name] = {"dtype": _NAME[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
