"""serve_onnx.py — the Python server a user would write: FastAPI + uvicorn +
ONNX Runtime, answering POST /v2/models/NAME/infer with a PNG body the way
deepc serve does (the same normalisation, softmax, top-5 and the same JSON
outputs), for bench/serve.sh's side-by-side run.

  bench/.serve-venv/bin/python bench/serve_onnx.py --check MODEL.onnx MODEL.safetensors PNG
      prints ONNX Runtime's probabilities for PNG and exits (serve.sh compares them with deepc's)
  MODEL=m.onnx MEAN=0.286 STD=0.353 bench/.serve-venv/bin/uvicorn serve_onnx:app \
      --app-dir bench --workers 2 --port 8081 --log-level warning --no-access-log

One ONNX Runtime session per uvicorn worker process, intra_op_num_threads=1
(one worker per core, the usual deployment); the handler is `async def`
reading the body with `await request.body()` and calling the session
directly. (A plain `def` handler, run in FastAPI's thread pool, measured 45
times slower at one connection here: about 44 ms a request.)
"""
import io
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

MODEL_NAME = os.path.splitext(os.path.basename(os.environ.get("MODEL", "m.onnx")))[0]
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]


def make_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "1"))
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def preprocess(body, c, h, w, mean, std):
    img = Image.open(io.BytesIO(body)).convert("L" if c == 1 else "RGB")
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float32).reshape(h, w, c).transpose(2, 0, 1)
    return ((a / 255.0 - mean) / std)[None].astype(np.float32)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def answer(p, k=5):
    p = p[0]
    order = np.argsort(-p, kind="stable")[:k]
    return {"model_name": MODEL_NAME, "model_version": "1", "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [1, len(p)], "data": p.tolist()},
        {"name": "top_k_index", "datatype": "INT32", "shape": [1, k], "data": order.tolist()},
        {"name": "top_k_label", "datatype": "BYTES", "shape": [1, k], "data": [CLASSES[i] for i in order]},
        {"name": "top_k_probability", "datatype": "FP32", "shape": [1, k], "data": p[order].tolist()}]}


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--check":
    onnx_path, st_path, png = sys.argv[2:5]
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import st_py
    _, meta = st_py.load(st_path)
    norm = json.loads(meta["deepc.norm"])
    c, h, w = (int(v) for v in meta["deepc.input"].split(","))
    s = make_session(onnx_path)
    x = preprocess(open(png, "rb").read(), c, h, w, norm["mean"], norm["std"])
    print(json.dumps(softmax(s.run(None, {"input": x})[0]).tolist()[0]))
    sys.exit(0)

from fastapi import FastAPI, Request, Response  # noqa: E402

app = FastAPI()
SESSION = make_session(os.environ.get("MODEL", "m.onnx"))
SHAPE = SESSION.get_inputs()[0].shape  # [batch, C, H, W]
C, H, W = int(SHAPE[1]), int(SHAPE[2]), int(SHAPE[3])
MEAN, STD = float(os.environ.get("MEAN", "0")), float(os.environ.get("STD", "1"))


@app.get("/v2/health/ready")
def ready():
    return {"ready": True}


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request):
    body = await request.body()
    x = preprocess(body, C, H, W, MEAN, STD)
    p = softmax(SESSION.run(None, {"input": x})[0])
    return Response(json.dumps(answer(p)), media_type="application/json")
