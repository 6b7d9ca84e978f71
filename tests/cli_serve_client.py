"""cli_serve_client.py — the clients of tests/cli_serve.sh and cli_serve_robust.sh
(standard library + numpy only; every loop is bounded in count and time, and
only 127.0.0.1 is ever contacted).

  pngs IDX_GZ OUTDIR N [--invert]        the first N images of an IDX file as PNGs
  load PORT PNGDIR PREDICT_JSON SECONDS CLIENTS
                                          CLIENTS keep-alive clients POST the PNGs
                                          for SECONDS; every answer must be 200 with
                                          deepc predict's top class and probabilities
  reload PORT IDX_GZ PRED_A PRED_B SECONDS CLIENTS SWAPFILE
                                          4-row UINT8 JSON requests while the model
                                          file is swapped: every answer 200, all rows
                                          of an answer from one model (A or B), its
                                          model_version telling which
  feed PORT PNGDIR N                      POST N PNGs of PNGDIR (drift tests)
  fuzz PORT PID SECONDS                   malformed HTTP against the server; checks it
                                          stays up, never answers 500, and its memory
                                          stays bounded
Each command prints one summary line and exits 1 on any failure.
"""
import gzip
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import zlib

import numpy as np

HOST = "127.0.0.1"


def idx_images(path, n):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    count, h, w = struct.unpack(">III", raw[4:16])
    n = min(n, count)
    return np.frombuffer(raw[16:16 + n * h * w], dtype=np.uint8).reshape(n, h, w)


def png_bytes(a):
    h, w = a.shape
    rows = b"".join(b"\x00" + a[i].tobytes() for i in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def cmd_pngs(idx, outdir, n, invert=False):
    os.makedirs(outdir, exist_ok=True)
    imgs = idx_images(idx, int(n))
    for i, a in enumerate(imgs):
        if invert:
            a = 255 - a
        with open(os.path.join(outdir, "%04d.png" % i), "wb") as f:
            f.write(png_bytes(a))
    print("wrote %d PNGs to %s" % (len(imgs), outdir))
    return 0


def probs_of(body):
    for t in body["outputs"]:
        if t["name"] == "probabilities":
            return t["data"]
    return None


def cmd_load(port, pngdir, predict_json, seconds, clients):
    port, seconds, clients = int(port), float(seconds), int(clients)
    files = sorted(os.listdir(pngdir))
    bodies = [open(os.path.join(pngdir, f), "rb").read() for f in files]
    # deepc predict --json: one line per image with all the class probabilities
    want = {}
    for line in open(predict_json):
        rec = json.loads(line)
        want[os.path.basename(rec["path"])] = (rec["class"], rec["probabilities"])
    lock = threading.Lock()
    stats = {"ok": 0, "bad": 0, "errors": []}
    end = time.monotonic() + seconds

    def client(seed):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        ok = bad = 0
        errs = []
        while time.monotonic() < end and ok + bad < 100000:
            k = rnd.randrange(len(bodies))
            try:
                conn.request("POST", "/v2/models/m/infer", bodies[k], {"Content-Type": "image/png"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise ValueError("status %d: %s" % (r.status, data[:200]))
                got = probs_of(json.loads(data))
                top, p = want[files[k]]
                gt = max(range(10), key=lambda c: (got[c], -c))
                if gt != top or max(abs(a - b) for a, b in zip(got, p)) > 2e-6:
                    raise ValueError("%s: top %d vs %d, probs %s vs %s" % (files[k], gt, top, got, p))
                ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                bad += 1
                if len(errs) < 3:
                    errs.append(repr(e)[:300])
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
        conn.close()
        with lock:
            stats["ok"] += ok
            stats["bad"] += bad
            stats["errors"] += errs
    th = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in th:
        t.start()
    for t in th:
        t.join()
    dt = time.monotonic() - t0
    print("load: %d clients, %.1f s, %d answers equal to deepc predict, %d wrong or failed (%.0f req/s) %s" %
          (clients, dt, stats["ok"], stats["bad"], stats["ok"] / dt, stats["errors"][:3]))
    return 0 if stats["bad"] == 0 and stats["ok"] > clients else 1


def read_pred(path):
    out = []
    for line in open(path):
        out.append(json.loads(line)["probabilities"])
    return out


def cmd_reload(port, idx, pred_a, pred_b, seconds, clients, swapfile):
    port, seconds, clients = int(port), float(seconds), int(clients)
    imgs = idx_images(idx, 64)
    pa, pb = read_pred(pred_a), read_pred(pred_b)
    lock = threading.Lock()
    stats = {"a": 0, "b": 0, "bad": 0, "errors": [], "versions": set()}
    t_start = time.monotonic()
    # the load lasts SECONDS, and on until model b has answered (a slow
    # machine or a sanitizer build takes longer to load and warm it), 60 s at most
    def going():
        now = time.monotonic()
        return now < t_start + seconds or (stats["b"] < 10 and now < t_start + seconds + 60)

    def close(p, q):
        return max(abs(x - y) for x, y in zip(p, q)) <= 2e-6

    def client(seed):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        n = 0
        while going() and n < 100000:
            n += 1
            k = rnd.randrange(len(imgs) - 4)
            body = json.dumps({"inputs": [{"name": "input", "shape": [4, 1, 28, 28], "datatype": "UINT8",
                                           "data": imgs[k:k + 4].reshape(-1).tolist()}]})
            try:
                conn.request("POST", "/v2/models/m/infer", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise ValueError("status %d: %s" % (r.status, data[:200]))
                js = json.loads(data)
                got = probs_of(js)
                rows = [got[i * 10:(i + 1) * 10] for i in range(4)]
                is_a = all(close(rows[i], pa[k + i]) for i in range(4))
                is_b = all(close(rows[i], pb[k + i]) for i in range(4))
                if not (is_a or is_b):
                    raise ValueError("rows of one answer match neither model alone (mixed?)")
                with lock:
                    stats["a" if is_a else "b"] += 1
                    stats["versions"].add((js["model_version"], "a" if is_a else "b"))
            except Exception as e:  # noqa: BLE001
                with lock:
                    stats["bad"] += 1
                    if len(stats["errors"]) < 3:
                        stats["errors"].append(repr(e)[:300])
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
        conn.close()
    th = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in th:
        t.start()
    # swap the model file (atomically, as deepc train writes it) a third of the way in
    time.sleep(seconds / 3)
    target = os.path.join(os.path.dirname(swapfile), "m.safetensors")
    os.replace(swapfile, target)
    for t in th:
        t.join()
    # version "1" must always be model a, version "2" model b
    consistent = all((v == "1") == (w == "a") for v, w in stats["versions"])
    print("reload: %d answers from model a, %d from model b, %d wrong or failed, versions %s %s" %
          (stats["a"], stats["b"], stats["bad"], sorted(stats["versions"]), stats["errors"]))
    return 0 if stats["bad"] == 0 and stats["a"] > 0 and stats["b"] > 0 and consistent else 1


def cmd_feed(port, pngdir, n):
    port, n = int(port), int(n)
    files = sorted(os.listdir(pngdir))
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    bad = 0
    for i in range(n):
        conn.request("POST", "/v2/models/m/infer", open(os.path.join(pngdir, files[i % len(files)]), "rb").read(),
                     {"Content-Type": "image/png"})
        r = conn.getresponse()
        r.read()
        bad += r.status != 200
    conn.close()
    print("fed %d images, %d not 200" % (n, bad))
    return 1 if bad else 0


# ---------------------------------------------------------------------------
# Robustness

def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def raw(port, data, read=True, timeout=3.0, close_after=True, half_close=True):
    """Sends bytes (then closes our sending side, so a server waiting for
    more sees the end at once), returns the status code of the first answer
    (None: none)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if not read:
            return None
        buf = b""
        end = time.monotonic() + timeout
        while b"\r\n" not in buf and time.monotonic() < end:
            try:
                chunk = s.recv(4096)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            buf += chunk
        if buf.startswith(b"HTTP/1."):
            try:
                return int(buf[9:12])
            except ValueError:
                return -1
        return None
    finally:
        if close_after:
            s.close()


def good_request(body, ctype="image/png", extra=b""):
    return (b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype.encode() +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def cmd_fuzz(port, pid, seconds):
    port, pid, seconds = int(port), int(pid), float(seconds)
    rnd = random.Random(1234)
    img = np.zeros((28, 28), dtype=np.uint8)
    img[8:20, 8:20] = 200
    png = png_bytes(img)
    codes = {}
    fails = []

    def note(name, code):
        codes.setdefault(name, set()).add(code)
        # 503 (full, draining) and 505 (an HTTP version that does not exist)
        # are answers the protocol asks for; any other 5xx is a bug
        if code is not None and code >= 500 and code not in (503, 505):
            fails.append("%s -> %s" % (name, code))

    def healthy():
        c = raw(port, good_request(png), half_close=False)
        return c == 200

    if not healthy():
        print("fuzz: the server does not answer a good request")
        return 1
    rss0 = rss_kb(pid)
    # fixed cases
    cases = {
        "truncated request line": b"POST /v2/models/m/inf",
        "truncated headers": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Le",
        "huge content-length": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n",
        "negative content-length": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "two content-lengths": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 9\r\n\r\nabc",
        "short body then close": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nabc",
        "invalid chunk size": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
        "chunk longer than said": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n",
        "chunk size overflow": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nab\r\n",
        "chunked then close": b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
        "header without colon": b"GET /v2/health/ready HTTP/1.1\r\nHost x\r\nbroken\r\n\r\n",
        "bad version": b"GET /v2/health/ready HTTP/9.9\r\n\r\n",
        "no version": b"GET /v2/health/ready\r\n\r\n",
        "huge header": b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100000 + b"\r\n\r\n",
        "many headers": b"GET /v2/health/ready HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(3000)) + b"\r\n",
        "long url": b"GET /v2/models/" + b"m" * 50000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "long query": b"POST /v2/models/m/infer?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "nul in path": b"GET /v2/models/m\x00/ready HTTP/1.1\r\nHost: x\r\n\r\n",
        "percent path": b"GET /v2/models/%6d/ready HTTP/1.1\r\nHost: x\r\n\r\n",
        "garbage method": b"\x01\x02\x03 / HTTP/1.1\r\n\r\n",
        "empty line flood": b"\r\n" * 10000,
        "pipelined": good_request(png) * 5,
        "bad png": good_request(png[:40]),
        "png as json": good_request(png, "application/json"),
        "json bomb": good_request(b"[" * 100000, "application/json"),
        "deep json": good_request(b'{"inputs":[{"data":' + b"[" * 5000 + b"]" * 5000 + b"}]}", "application/json"),
        "expect continue": good_request(png, extra=b"Expect: 100-continue\r\n"),
    }
    incomplete = ("truncated", "short body", "then close")
    for name, data in cases.items():
        try:
            note(name, raw(port, data, half_close=any(w in name for w in incomplete)))
        except OSError as e:
            note(name, None)
            codes[name].add(type(e).__name__)
    # a valid chunked body is answered 200; a chunked body over the limit 413
    chunked = b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(b"%x\r\n" % len(png[i:i + 100]) + png[i:i + 100] + b"\r\n" for i in range(0, len(png), 100))
    c = raw(port, chunked + body + b"0\r\n\r\n", half_close=False)
    note("valid chunked", c)
    if c != 200:
        fails.append("valid chunked body -> %s" % c)
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(chunked)
    code = None
    try:
        for _ in range(2000):  # up to 2000 x 4 KiB = 8 MiB, over the 4 MiB default limit
            s.sendall(b"1000\r\n" + b"a" * 4096 + b"\r\n")
    except OSError:
        pass
    try:
        s.settimeout(3)
        buf = s.recv(4096)
        code = int(buf[9:12]) if buf.startswith(b"HTTP/1.") else None
    except (OSError, ValueError):
        pass
    s.close()
    note("chunked over the limit", code)
    if code not in (413, None):
        fails.append("chunked over the limit -> %s" % code)
    # slow clients (slowloris) while good requests go on
    slow = []
    for i in range(30):
        so = socket.create_connection((HOST, port), timeout=5)
        so.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\n")
        slow.append(so)
    t_end = time.monotonic() + min(3.0, seconds / 3)
    worst = 0.0
    served = 0
    while time.monotonic() < t_end:
        for so in slow:
            try:
                so.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass
        t0 = time.monotonic()
        if healthy():
            served += 1
        else:
            fails.append("a good request failed while slow clients were connected")
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.2)
    for so in slow:
        so.close()
    if worst > 1.0:
        fails.append("good requests took up to %.2f s beside slow clients" % worst)
    # random garbage and mutations of a good request, bounded in count and
    # time, from 16 threads (an incomplete request is only dropped by the
    # server at --idle-timeout, so each thread waits 0.1 s at most for an answer)
    base = good_request(png)
    t_end = time.monotonic() + seconds / 2
    lock = threading.Lock()
    counter = [0]

    def mutate(seed):
        r = random.Random(seed)
        while time.monotonic() < t_end:
            with lock:
                if counter[0] >= 5000:
                    return
                counter[0] += 1
            kind = r.randrange(4)
            if kind == 0:
                data = bytes(r.randrange(256) for _ in range(r.randrange(1, 600)))
            elif kind == 1:
                b = bytearray(base)
                for _ in range(r.randrange(1, 8)):
                    b[r.randrange(len(b))] = r.randrange(256)
                data = bytes(b)
            elif kind == 2:
                data = base[:r.randrange(len(base))]
            else:
                b = bytearray(base)
                i = r.randrange(len(b))
                data = bytes(b[:i] + bytes(r.randrange(256) for _ in range(r.randrange(1, 50))) + b[i:])
            try:
                c = raw(port, data, timeout=0.1, half_close=False)
            except OSError:
                c = None
            with lock:
                note("random", c)
    th = [threading.Thread(target=mutate, args=(rnd.randrange(1 << 30),)) for _ in range(16)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    n = counter[0]
    # connect / close storms
    for _ in range(500):
        try:
            so = socket.create_connection((HOST, port), timeout=2)
            so.close()
        except OSError:
            pass
    ok = healthy()
    time.sleep(0.5)
    rss1 = rss_kb(pid)
    # memory: the same fuzzing again must not grow it further (a leak grows each round)
    for _ in range(2):
        for name, data in cases.items():
            try:
                raw(port, data, timeout=0.2, half_close=False)
            except OSError:
                pass
    time.sleep(0.5)
    rss2 = rss_kb(pid)
    if not ok or not healthy():
        fails.append("the server stopped answering")
    if rss2 - rss1 > 20000:
        fails.append("RSS grew by %d KiB over two more rounds of the fixed cases" % (rss2 - rss1))
    summary = {k: sorted(str(c) for c in v) for k, v in codes.items() if k != "random"}
    rnd_codes = sorted(str(c) for c in codes.get("random", []))
    print("fuzz: %d fixed cases, %d random inputs (answers %s), %d good requests beside 30 slow clients (worst %.3f s), "
          "RSS %d -> %d -> %d KiB; %s" % (len(cases), n, rnd_codes, served, worst, rss0, rss1, rss2,
                                         "FAIL: " + "; ".join(fails) if fails else "ok"))
    if fails or os.environ.get("VERBOSE"):
        print(json.dumps(summary, indent=0))
    return 1 if fails else 0


def main(argv):
    cmd = argv[1]
    if cmd == "pngs":
        return cmd_pngs(argv[2], argv[3], argv[4], "--invert" in argv)
    if cmd == "load":
        return cmd_load(*argv[2:7])
    if cmd == "reload":
        return cmd_reload(*argv[2:9])
    if cmd == "feed":
        return cmd_feed(*argv[2:5])
    if cmd == "fuzz":
        return cmd_fuzz(*argv[2:5])
    print("unknown command", cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
