#!/usr/bin/env python3
"""bench_torch_resnet.py — the PyTorch/ONNX Runtime side of deepc's ResNet benchmark.

Three verbs (run with bench/.venv/bin/python for the PyPI wheel, or
/usr/bin/python3 for Debian's torch 1.13, which lacks torch.compile and ORT):

  train     the ResNet job, timed: resnet20 (or --model) on Fashion-MNIST, batch
            128, SGD lr 0.1 momentum 0.9 nesterov, weight decay 5e-4 (on every
            parameter, as model.parameters() gives it), cosine schedule over the
            epochs (CosineAnnealingLR stepped once per epoch), cross-entropy,
            random crop with 4-pixel padding + horizontal flip.
  accuracy  the full recipe: train --epochs 20 --limit 0 with test accuracy every
            epoch and the training time until test accuracy first reaches
            --target (default 0.93).
  infer     inference throughput: eager (inference_mode), TorchScript
            (trace + freeze, conv+BN folded), torch.compile and ONNX Runtime
            (torch.onnx.export, opset 17, dynamic batch axis; intra_op threads =
            --threads, all graph optimisations), at batch 1 and 256.

Data: the IDX gz files in /usr/share/datasets/fashion-mnist read with numpy,
normalised with the training set's mean/std (of [0,1] pixels), held in memory
as tensors; each epoch draws torch.randperm and slices batches (no DataLoader,
last partial batch kept). Augmentation is done per batch, vectorised: one
F.pad per batch and one torch.gather that applies each image's crop offset
(0..8 in y and x) and flip together. The padding is a black pixel (0 before
normalisation, i.e. -mean/std after), as torchvision's RandomCrop(28, 4)
before Normalize gives; --pad zero pads with 0 after normalisation instead.

Timing: an epoch's "seconds" is its training loop only (augmentation,
forward, backward, step, loss/accuracy bookkeeping), measured with
time.perf_counter; test evaluation is timed apart ("eval_seconds").
"cpu_seconds" (and infer's "images_per_cpu_s") is the process's CPU time
over the same span (time.process_time, all threads): on a machine shared with
other work it shows the cost of the work itself, which wall time mixes with
the time the process waited for a core. Before
epoch 1, --warmup steps (default 3, the last at the partial batch size when
there is one) are run and then undone (the weights and the optimizer state
are restored), so oneDNN's primitive creation and torch.compile's
compilation ("warmup_seconds") stay out of the epochs without changing the
recipe. GFLOP/s uses the analytic count of bench/torch_models.py.

--json prints one JSON object per line: {"event": "epoch", ...} per epoch,
then {"event": "done", ...}; infer prints {"event": "infer", ...} per
backend and batch size (images/s is the median of --repeats timed repeats
after warm-up). Without --json the same facts are printed as text.
Threads: --threads T sets torch.set_num_threads(T) and, when unset,
OMP_NUM_THREADS=T before torch is imported. OMP_WAIT_POLICY=PASSIVE (which
bench/resnet.sh sets on this shared machine: spinning OpenMP threads that the
other load deschedules made 2-thread training 4x slower) also turns off ORT's
spinning (session.intra_op.allow_spinning=0).
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import sys
import tempfile
import time

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="verb", required=True)

    def common(p):
        p.add_argument("--model", default="resnet20", help="torch_models architecture")
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--data", default=DATA_DIR)
        p.add_argument("--json", action="store_true", help="JSON lines on stdout")
        p.add_argument("--channels-last", action="store_true",
                       help="torch.channels_last memory format for model and inputs")

    for name in ("train", "accuracy"):
        p = sub.add_parser(name)
        common(p)
        p.add_argument("--epochs", type=int, default=20 if name == "accuracy" else 1)
        p.add_argument("--limit", type=int, default=0,
                       help="training images per epoch (the first N; 0 = all 60,000)")
        p.add_argument("--test-limit", type=int, default=0,
                       help="test images evaluated per epoch (0 = all 10,000)")
        p.add_argument("--no-eval", action="store_true", help="skip the per-epoch test pass")
        p.add_argument("--batch", type=int, default=128)
        p.add_argument("--lr", type=float, default=0.1)
        p.add_argument("--momentum", type=float, default=0.9)
        p.add_argument("--weight-decay", type=float, default=5e-4)
        p.add_argument("--no-nesterov", action="store_true")
        p.add_argument("--no-augment", action="store_true")
        p.add_argument("--crop", type=int, default=4, help="padding of the random crop")
        p.add_argument("--pad", choices=("black", "zero"), default="black")
        p.add_argument("--warmup", type=int, default=3, help="steps run and undone before epoch 1")
        p.add_argument("--compile", action="store_true", help="train through torch.compile")
        p.add_argument("--target", type=float, default=0.93,
                       help="report the training time until test accuracy first reaches this")

    p = sub.add_parser("check", help="test augment() against a per-image reference")
    common(p)

    p = sub.add_parser("infer")
    common(p)
    p.add_argument("--batches", default="1,256", help="comma-separated batch sizes")
    p.add_argument("--backends", default="eager,jit,compile,ort",
                   help="comma-separated: eager, jit, compile, ort")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--repeat-seconds", type=float, default=0.5,
                   help="target length of one timed repeat")
    a = ap.parse_args(argv)
    if a.threads < 1:
        ap.error("--threads must be >= 1")
    return a


A = parse_args(sys.argv[1:])
os.environ.setdefault("OMP_NUM_THREADS", str(A.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def emit(obj, text=None):
    if A.json:
        print(json.dumps(obj), flush=True)
    else:
        print(text if text is not None else " ".join(f"{k}={v}" for k, v in obj.items()),
              flush=True)


def read_idx(path, magic):
    """Reads a gzip IDX file; checks the magic (0x803 images, 0x801 labels) and the size."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    got = int.from_bytes(raw[0:4], "big")
    if got != magic:
        sys.exit(f"{path}: expected IDX magic {magic:#010x}, found {got:#010x}")
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    if len(raw) != 4 + 4 * rank + int(np.prod(dims)):
        sys.exit(f"{path}: header says {dims}, file holds {len(raw) - 4 - 4 * rank} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load_data(d):
    """(Xtr, Ytr, Xte, Yte, mean, std): float32 (N,1,28,28) normalised, int64 labels."""
    xtr = read_idx(f"{d}/train-images-idx3-ubyte.gz", 0x803)
    ytr = read_idx(f"{d}/train-labels-idx1-ubyte.gz", 0x801)
    xte = read_idx(f"{d}/t10k-images-idx3-ubyte.gz", 0x803)
    yte = read_idx(f"{d}/t10k-labels-idx1-ubyte.gz", 0x801)
    # Mean/std of the training set's [0,1] pixels from a byte histogram (as
    # deepc computes them), conversion in place: one float copy of each set.
    hist = np.bincount(xtr.reshape(-1), minlength=256).astype(np.float64)
    v = np.arange(256) / 255.0
    mean = float((hist * v).sum() / hist.sum())
    std = float(np.sqrt((hist * v * v).sum() / hist.sum() - mean * mean))

    def norm(x):
        f = x.astype(np.float32)
        f /= 255.0
        f -= mean
        f /= std
        return torch.from_numpy(f).unsqueeze(1)

    return (norm(xtr), torch.from_numpy(ytr.astype(np.int64)),
            norm(xte), torch.from_numpy(yte.astype(np.int64)), mean, std)


def augment(xb, crop, pad_value, gen):
    """Random crop (pad `crop`, then an HxW window at a random offset) + horizontal flip.

    xb is (B,C,H,W); returns a new (B,C,H,W) tensor. One pad and one gather
    per batch: the gather index folds each image's offset and flip together.
    """
    B, C, H, W = xb.shape
    Wp = W + 2 * crop
    p = F.pad(xb, (crop, crop, crop, crop), value=pad_value)       # (B,C,H+2c,W+2c)
    oy = torch.randint(0, 2 * crop + 1, (B, 1), generator=gen)    # (B,1)
    ox = torch.randint(0, 2 * crop + 1, (B, 1), generator=gen)
    flip = torch.rand(B, 1, generator=gen) < 0.5
    ar_h, ar_w = torch.arange(H), torch.arange(W)
    rows = oy + ar_h                                              # (B,H)
    cols = ox + torch.where(flip, W - 1 - ar_w, ar_w)             # (B,W)
    idx = (rows[:, :, None] * Wp + cols[:, None, :]).view(B, 1, H * W).expand(B, C, H * W)
    return torch.gather(p.view(B, C, -1), 2, idx).view(B, C, H, W)


def augment_reference(xb, crop, pad_value, gen):
    """augment()'s plain twin: the same random draws, one image at a time with slicing."""
    B, C, H, W = xb.shape
    oy = torch.randint(0, 2 * crop + 1, (B, 1), generator=gen)
    ox = torch.randint(0, 2 * crop + 1, (B, 1), generator=gen)
    flip = torch.rand(B, 1, generator=gen) < 0.5
    out = torch.empty_like(xb)
    for b in range(B):
        p = torch.full((C, H + 2 * crop, W + 2 * crop), pad_value)
        p[:, crop:crop + H, crop:crop + W] = xb[b]
        y, x = int(oy[b]), int(ox[b])
        win = p[:, y:y + H, x:x + W]
        out[b] = win.flip(2) if bool(flip[b]) else win
    return out


def check():
    """augment() against augment_reference() on awkward shapes; exits 1 on a mismatch."""
    fails = 0
    for B, C, H, W, crop in ((1, 1, 28, 28, 4), (7, 3, 5, 9, 2), (128, 1, 28, 28, 4), (3, 2, 4, 4, 0)):
        x = torch.randn(B, C, H, W)
        g1, g2 = torch.Generator().manual_seed(B), torch.Generator().manual_seed(B)
        got, want = augment(x, crop, -0.8, g1), augment_reference(x, crop, -0.8, g2)
        ok = torch.equal(got, want)
        fails += not ok
        print(f"augment B={B} C={C} {H}x{W} crop {crop}: {'ok' if ok else 'MISMATCH'}")
    # The draws must actually vary: over 128 images some flip and offsets differ.
    x = torch.arange(28.0).repeat(128, 1, 28, 1)
    a = augment(x, 4, 0.0, torch.Generator().manual_seed(5))
    flipped = int((a[:, 0, 14, 10] > a[:, 0, 14, 17]).sum())
    ok = 20 < flipped < 108
    fails += not ok
    print(f"augment flips {flipped}/128 images: {'ok' if ok else 'NOT RANDOM'}")
    print(f"{4 + 1 - fails} passed, {fails} failed")
    return 1 if fails else 0


def evaluate(model, X, Y, mf):
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, X.shape[0], 1000):
            out = model(X[i:i + 1000].contiguous(memory_format=mf))
            correct += int((out.argmax(1) == Y[i:i + 1000]).sum())
    return correct / X.shape[0]


# ---------------------------------------------------------------------------
# train / accuracy

def train():
    if A.verb == "accuracy" and A.limit == 0 and A.no_eval:
        sys.exit("accuracy needs the per-epoch test pass (drop --no-eval)")
    torch.set_num_threads(A.threads)
    torch.manual_seed(A.seed)
    gen = torch.Generator().manual_seed(A.seed + 1000)  # augmentation stream
    Xtr, Ytr, Xte, Yte, mean, std = load_data(A.data)
    if A.limit > 0:
        Xtr, Ytr = Xtr[:A.limit].contiguous(), Ytr[:A.limit].contiguous()
    if A.test_limit > 0:
        Xte, Yte = Xte[:A.test_limit].contiguous(), Yte[:A.test_limit].contiguous()
    n = Xtr.shape[0]
    pad_value = -mean / std if A.pad == "black" else 0.0
    mf = torch.channels_last if A.channels_last else torch.contiguous_format

    model = torch_models.build(A.model, in_ch=1, classes=10, hw=28).to(memory_format=mf)
    opt = torch.optim.SGD(model.parameters(), lr=A.lr, momentum=A.momentum,
                          nesterov=not A.no_nesterov, weight_decay=A.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=A.epochs)
    lossf = nn.CrossEntropyLoss()
    fl = torch_models.flops(A.model)
    step_model = model
    if A.compile:
        if not hasattr(torch, "compile"):
            emit({"event": "error", "error": f"torch {torch.__version__} has no torch.compile"})
            sys.exit(3)
        step_model = torch.compile(model)

    def step(xb, yb):
        if not A.no_augment:
            xb = augment(xb, A.crop, pad_value, gen)
        xb = xb.contiguous(memory_format=mf)
        opt.zero_grad(set_to_none=True)
        out = step_model(xb)
        loss = lossf(out, yb)
        loss.backward()
        opt.step()
        return loss.detach(), (out.argmax(1) == yb).sum()

    # Warm-up: run a few steps (the last at the partial batch size), then
    # restore weights, BN statistics and optimizer state. Its batches are the
    # first images in order and its augmentation draws from a separate
    # generator, so the timed run sees the same random streams either way.
    warm_s = 0.0
    if A.warmup > 0:
        import copy
        saved_model = copy.deepcopy(model.state_dict())
        saved_opt = copy.deepcopy(opt.state_dict())
        saved_gen = gen.get_state()
        sizes = [min(A.batch, n)] * A.warmup
        if n % A.batch and n > A.batch:
            sizes[-1] = n % A.batch
        model.train()
        t0 = time.perf_counter()
        try:
            for bs in sizes:
                step(Xtr[:bs], Ytr[:bs])
        except Exception as e:  # torch.compile failing on this machine, say
            emit({"event": "error", "error": f"{type(e).__name__}: {str(e)[:500]}",
                  "compile": A.compile})
            sys.exit(3)
        warm_s = time.perf_counter() - t0
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
        gen.set_state(saved_gen)
        emit({"event": "warmup", "steps": len(sizes), "seconds": round(warm_s, 3),
              "compile": A.compile},
             f"warm-up: {len(sizes)} steps in {warm_s:.2f} s (undone)")

    train_s_total, reached = 0.0, None
    for ep in range(1, A.epochs + 1):
        model.train()
        perm = torch.randperm(n)
        tot_loss = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        lr = opt.param_groups[0]["lr"]
        c0 = time.process_time()
        t0 = time.perf_counter()
        for i in range(0, n, A.batch):
            idx = perm[i:i + A.batch]
            loss, c = step(Xtr[idx], Ytr[idx])
            tot_loss += loss * idx.shape[0]
            correct += c
        sec = time.perf_counter() - t0
        cpu = time.process_time() - c0
        sched.step()
        train_s_total += sec
        test_acc, ev_s = None, 0.0
        if not A.no_eval:
            t1 = time.perf_counter()
            test_acc = evaluate(model, Xte, Yte, mf)
            ev_s = time.perf_counter() - t1
            if reached is None and test_acc >= A.target:
                reached = {"epoch": ep, "train_seconds": round(train_s_total, 2)}
        rec = {"event": "epoch", "epoch": ep, "epochs": A.epochs, "n_train": n,
               "seconds": round(sec, 4), "images_per_s": round(n / sec, 1),
               "cpu_seconds": round(cpu, 4),
               "train_loss": round(float(tot_loss) / n, 5), "train_acc": round(int(correct) / n, 5),
               "test_acc": test_acc, "eval_seconds": round(ev_s, 3), "lr": lr,
               "gflops": round(fl["train_flops"] * n / sec * 1e-9, 2)}
        emit(rec, f"epoch {ep}/{A.epochs}: {sec:.2f} s ({n / sec:.0f} img/s, "
                  f"{rec['gflops']:.1f} GFLOP/s), loss {rec['train_loss']:.4f}, "
                  f"train acc {rec['train_acc']:.4f}, test acc {test_acc}, lr {lr:.4g}")
    emit({"event": "done", "model": A.model, "threads": A.threads, "n_train": n,
          "epochs": A.epochs, "batch": A.batch, "compile": A.compile,
          "channels_last": A.channels_last, "augment": not A.no_augment,
          "train_seconds": round(train_s_total, 3), "warmup_seconds": round(warm_s, 3),
          "target": A.target, "time_to_target": reached,
          "train_flops_per_image": fl["train_flops"],
          "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          "torch": torch.__version__, "cpu_capability": _cpu_capability(),
          "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                 "OMP_WAIT_POLICY")}})


def _cpu_capability():
    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # torch 1.13
        return None


# ---------------------------------------------------------------------------
# infer

class WithSoftmax(nn.Module):
    """The model plus softmax over classes, as deepc's predict returns probabilities."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return torch.softmax(self.m(x), 1)


def export_onnx(model, example, path):
    """ONNX opset 17 with a dynamic batch axis; the TorchScript exporter where torch has it
    (torch 2.x's dynamo exporter cannot write opset 17), else the dynamo one."""
    import warnings
    kw = dict(input_names=["input"], output_names=["probs"], opset_version=17,
              dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (example,), path, dynamo=False, **kw)
            return "torchscript"
        except TypeError:  # torch < 2.5 has no dynamo= argument: TorchScript exporter
            torch.onnx.export(model, (example,), path, **kw)
            return "torchscript"


def infer():
    torch.set_num_threads(A.threads)
    torch.manual_seed(A.seed)
    _, _, Xte, _, _, _ = load_data(A.data)
    mf = torch.channels_last if A.channels_last else torch.contiguous_format
    Xte = Xte.contiguous(memory_format=mf)
    base = torch_models.build(A.model).eval()
    # BN running statistics that are not the 0/1 defaults, so folding them
    # is real work and the output comparison below can catch a mistake.
    with torch.no_grad():
        for m in base.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model = WithSoftmax(base).eval().to(memory_format=mf)
    batches = [int(b) for b in A.batches.split(",")]
    ref_x = Xte[:max(batches)]
    with torch.inference_mode():
        ref = model(ref_x)

    def bench_fn(name, fn, bs, setup_s):
        # fn takes a (bs,1,28,28) tensor and returns probabilities.
        k = 0
        nt = Xte.shape[0] - bs + 1

        def call():
            nonlocal k
            i = (k * bs) % nt
            k += 1
            return fn(Xte[i:i + bs])

        t0 = time.perf_counter()
        w = 0
        while w < 5 or time.perf_counter() - t0 < 0.3:  # warm-up + calibration
            call()
            w += 1
        per_call = (time.perf_counter() - t0) / w
        calls = max(1, int(A.repeat_seconds / per_call))
        ips, ipc = [], []
        for _ in range(A.repeats):
            c0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(calls):
                call()
            ips.append(calls * bs / (time.perf_counter() - t0))
            ipc.append(calls * bs / max(time.process_time() - c0, 1e-9))
        out = fn(ref_x[:bs])
        out = out if isinstance(out, torch.Tensor) else torch.from_numpy(out)
        diff = float((out - ref[:bs]).abs().max())
        rec = {"event": "infer", "model": A.model, "backend": name, "batch": bs,
               "threads": A.threads, "images_per_s": round(statistics.median(ips), 1),
               "repeats": [round(v, 1) for v in ips], "calls_per_repeat": calls,
               "images_per_cpu_s": round(statistics.median(ipc), 1),
               "setup_seconds": round(setup_s, 3), "max_abs_diff_vs_eager": diff,
               "torch": torch.__version__}
        emit(rec, f"{A.model} {name:<8} batch {bs:>4} threads {A.threads}: "
                  f"{rec['images_per_s']:>10,.1f} images/s (median of {A.repeats}; "
                  f"{min(ips):,.0f}-{max(ips):,.0f}), max |diff| vs eager {diff:.2e}")
        if diff > 1e-4:
            print(f"bench_torch_resnet.py: {name} at batch {bs} differs from eager by {diff:.3g}",
                  file=sys.stderr)
            return False
        return True

    ok = True
    for backend in A.backends.split(","):
        t0 = time.perf_counter()
        try:
            if backend == "eager":
                def run(x, model=model):
                    with torch.inference_mode():
                        return model(x)
                fns = {bs: run for bs in batches}
            elif backend == "jit":
                with torch.no_grad():
                    tm = torch.jit.freeze(torch.jit.trace(model, ref_x[:2]))
                    try:
                        tm = torch.jit.optimize_for_inference(tm)
                    except Exception:
                        pass

                def run(x, tm=tm):
                    with torch.no_grad():
                        return tm(x)
                fns = {bs: run for bs in batches}
            elif backend == "compile":
                if not hasattr(torch, "compile"):
                    raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
                cm = torch.compile(model)

                def run(x, cm=cm):
                    with torch.inference_mode():
                        return cm(x)
                for bs in batches:
                    run(ref_x[:bs])  # compile for every batch size before timing
                fns = {bs: run for bs in batches}
            elif backend == "ort":
                import onnxruntime as ort
                path = os.path.join(tempfile.mkdtemp(prefix="deepc-bench-"), f"{A.model}.onnx")
                exporter = export_onnx(model, ref_x[:2].contiguous(), path)
                so = ort.SessionOptions()
                so.intra_op_num_threads = A.threads
                so.inter_op_num_threads = 1
                so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                # ORT's own thread pool spins like OpenMP's; follow the same
                # switch, so OMP_WAIT_POLICY=PASSIVE means no spinning anywhere.
                spin = os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE"
                so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
                sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                os.remove(path)
                os.rmdir(os.path.dirname(path))

                def run(x, sess=sess):
                    return sess.run(None, {"input": x.contiguous().numpy()})[0]
                fns = {bs: run for bs in batches}
                emit({"event": "ort", "version": ort.__version__, "exporter": exporter,
                      "opset": 17, "intra_op_num_threads": A.threads, "allow_spinning": spin},
                     f"onnxruntime {ort.__version__}, {exporter} exporter, opset 17, "
                     f"intra_op_num_threads {A.threads}, spinning {'on' if spin else 'off'}")
            else:
                sys.exit(f"unknown backend '{backend}' (eager, jit, compile, ort)")
        except Exception as e:  # a backend this torch lacks, or one that fails here
            emit({"event": "skip", "backend": backend, "model": A.model,
                  "reason": f"{type(e).__name__}: {str(e)[:300]}"},
                 f"{A.model} {backend}: skipped ({type(e).__name__}: {str(e)[:300]})")
            continue
        setup_s = time.perf_counter() - t0
        for bs in batches:
            ok &= bench_fn(backend, fns[bs], bs, setup_s)
    return 0 if ok else 1


if __name__ == "__main__":
    if A.verb in ("train", "accuracy"):
        if A.verb == "accuracy" and A.limit:
            print("note: accuracy with --limit is not the full recipe", file=sys.stderr)
        train()
    elif A.verb == "check":
        sys.exit(check())
    else:
        sys.exit(infer())
