"""The soak (scripts/soak): a realistic mix of well-formed requests at about 80 % of what this machine serves, with
abusive clients beside it, for MINUTES; reports errors on well-formed traffic, latency and resident memory over time,
the health check's worst answer time, and draws one PNG.

    python soak.py --binary PATH --minutes 10 --png docs/soak.png --json out.json

Capacity is measured first (a few seconds of the same mix with no pacing), so "80 %" is of what this client and this
server reach together on this machine; a shared, noisy machine moves it.
"""

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wire import _decrypt_gcm, open_response, seal  # noqa: E402

WORKERS = 4
WINDOW_S = 10

# (path, weight): what a day of traffic on an operator looks like, roughly.
LOGOUT_IDENTITIES = 2_000
MIX = [
    ("/v2/token/generate", 30),
    ("/v2/token/refresh", 20),
    ("/v2/token/validate", 10),
    ("/v3/identity/map", 10),
    ("/v2/key/sharing", 10),
    ("/v2/optout/status", 10),
    ("/v2/token/logout", 5),
    ("/ops/healthcheck", 5),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------ well-formed traffic

class Caller:
    """One keep-alive connection and the state a client keeps (refresh tokens it was given)."""

    def __init__(self, port, creds, rng):
        self.port, self.creds, self.rng = port, creds, rng
        self.secret = base64.b64decode(creds["secret"])
        self.conn = None
        self.refresh = []   # (refresh_token, refresh_response_key)
        self.tokens = []

    def post(self, path, body, headers):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request("POST" if body is not None else "GET", path, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                # A keep-alive connection the server closed as idle: reconnect once, as any client does.
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise ConnectionError("unreachable")

    def enveloped(self, path, payload):
        envelope, nonce = seal(self.secret, payload)
        status, body = self.post(path, base64.b64encode(envelope),
                                 {"Authorization": "Bearer " + self.creds["api_key"], "Content-Type": "text/plain"})
        if status != 200:
            return status, None
        return status, open_response(self.secret, base64.b64decode(body), nonce, window=(0, 1 << 62))

    def call(self, path) -> bool:
        email = f"soak{self.rng.randrange(1_000_000)}@example.com"
        if path == "/ops/healthcheck":
            status, body = self.post(path, None, {})
            return status == 200
        if path == "/v2/token/generate":
            status, answer = self.enveloped(path, {"email": email, "optout_check": 1})
            if status == 200 and answer["status"] == "success":
                b = answer["body"]
                self.refresh = (self.refresh + [(b["refresh_token"], b["refresh_response_key"])])[-50:]
                self.tokens = (self.tokens + [(b["advertising_token"], email)])[-50:]
            return status == 200 and answer["status"] in ("success", "optout")
        if path == "/v2/token/refresh":
            if not self.refresh:
                return self.call("/v2/token/generate")
            token, key = self.refresh.pop(self.rng.randrange(len(self.refresh)))
            status, body = self.post(path, token.encode(), {"Content-Type": "text/plain"})
            if status != 200:
                return False
            plain = base64.b64decode(body)
            answer = json.loads(_decrypt_gcm(plain, base64.b64decode(key)))
            if answer["status"] == "success":
                b = answer["body"]
                self.refresh.append((b["refresh_token"], b["refresh_response_key"]))
            return answer["status"] in ("success", "optout")
        if path == "/v2/token/validate":
            if not self.tokens:
                return self.call("/v2/token/generate")
            token, email = self.rng.choice(self.tokens)
            status, answer = self.enveloped(path, {"token": token, "email": email})
            return status == 200 and answer["status"] == "success"
        if path == "/v3/identity/map":
            emails = [f"map{self.rng.randrange(10_000_000)}@example.com" for _ in range(100)]
            status, answer = self.enveloped(path, {"email": emails})
            return status == 200 and len(answer["body"]["email"]) == 100
        if path == "/v2/key/sharing":
            status, answer = self.enveloped(path, None)
            return status == 200 and answer["status"] == "success"
        if path == "/v2/optout/status":
            ids = [base64.b64encode(os.urandom(32)).decode() for _ in range(50)]
            status, answer = self.enveloped(path, {"advertising_ids": ids})
            return status == 200 and answer["status"] == "success"
        if path == "/v2/token/logout":
            # A bounded set of people: after warm-up every logout repeats a stored opt-out, so resident
            # memory measures the operator (leaks), not a growing opt-out list.
            status, answer = self.enveloped(path, {"email": f"gone{self.rng.randrange(LOGOUT_IDENTITIES)}@example.com"})
            return status == 200 and answer["status"] == "success"
        raise ValueError(path)


def worker(index, port, creds, start_at, stop_at, rate, out):
    """Runs the mix from start_at to stop_at; rate requests/s (0: as fast as possible). Puts [(t, path, s, ok)]."""
    rng = random.Random(index)
    caller = Caller(port, creds, rng)
    paths = [p for p, w in MIX for _ in range(w)]
    results = []
    while time.time() < start_at:
        time.sleep(0.01)
    next_at = time.monotonic()
    while time.time() < stop_at:
        if rate:
            next_at += rng.expovariate(rate)
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1:
                next_at = time.monotonic()   # behind by a second: do not burst to catch up
        path = rng.choice(paths)
        t = time.monotonic()
        try:
            ok = caller.call(path)
        except Exception as e:  # noqa: BLE001 - every failure of well-formed traffic is counted
            ok = False
            results.append((time.time(), path, time.monotonic() - t, False, repr(e)[:200]))
            continue
        results.append((time.time(), path, time.monotonic() - t, ok, None))
    out.put(results)


def run_mix(port, creds, seconds, total_rate):
    out = multiprocessing.Queue()
    start_at = time.time() + 0.5
    procs = [multiprocessing.Process(target=worker, args=(i, port, creds, start_at, start_at + seconds,
                                                          total_rate / WORKERS, out)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    results = []
    for _ in procs:
        results.extend(out.get())
    for p in procs:
        p.join()
    return sorted(results)


# ------------------------------------------------------------------ abusive clients

class Abusers:
    """Slowloris heads, an idle flood, junk bytes and held bodies, each reconnecting whenever the server drops it."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.counts = {"slowloris": 0, "idle": 0, "junk": 0, "held_body": 0}
        self.threads = []

    def start(self):
        plan = [("slowloris", 30), ("idle", 200), ("junk", 5), ("held_body", 30)]
        for kind, n in plan:
            for i in range(n):
                t = threading.Thread(target=self.loop, args=(kind, i), daemon=True)
                t.start()
                self.threads.append(t)

    def loop(self, kind, i):
        rng = random.Random(hash((kind, i)))
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    self.counts[kind] += 1
                    self.abuse(kind, s, rng)
            except OSError:
                pass
            self.stop.wait(0.2)

    def abuse(self, kind, s, rng):
        s.settimeout(1)
        if kind == "slowloris":
            s.sendall(b"POST /v2/token/generate HTTP/1.1\r\nHost: x\r\n")
        elif kind == "held_body":
            s.sendall(b"POST /v2/token/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 4000\r\n\r\n")
        while not self.stop.is_set():
            try:
                if kind == "slowloris":
                    s.send(b"X-a: b\r\n"[rng.randrange(8):][:1] or b"x")
                elif kind == "held_body":
                    s.send(b"A")
                elif kind == "junk":
                    s.sendall(os.urandom(rng.randrange(1, 4096)))
                data = s.recv(4096)
                if data == b"":
                    return
            except socket.timeout:
                continue
            except OSError:
                return
            if kind == "junk":
                return


# ------------------------------------------------------------------ the run

def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--png")
    parser.add_argument("--json")
    parser.add_argument("--calibrate-seconds", type=float, default=10)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="uid-soak."))
    data = tmp / "data"
    subprocess.run([args.binary, "init", "--data-dir", str(data)], check=True, capture_output=True)
    creds = json.loads((data / "dev-credentials.json").read_text())
    port = free_port()
    log = open(tmp / "operator.log", "wb")
    server = subprocess.Popen([args.binary, "serve", "--data-dir", str(data), "--port", str(port)], stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        # Capacity: the mix with no pacing, without abusers.
        calibration = run_mix(port, creds, args.calibrate_seconds, 0)
        capacity = len(calibration) / args.calibrate_seconds
        target = 0.8 * capacity
        print(f"capacity ~{capacity:.0f} requests/s (this client and server on this machine); soak at {target:.0f}/s",
              flush=True)

        rss, health = [], []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                t = time.time()
                rss.append((t, rss_kib(server.pid)))
                started = time.monotonic()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("GET", "/ops/healthcheck")
                    ok = conn.getresponse().status == 200
                    conn.close()
                except OSError:
                    ok = False
                health.append((t, time.monotonic() - started, ok))
                stop.wait(0.5)

        abusers = Abusers(port)
        abusers.start()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        seconds = args.minutes * 60
        started = time.time()
        results = run_mix(port, creds, seconds, target)
        stop.set()
        abusers.stop.set()
        sampler.join()
        alive = server.poll() is None
    finally:
        server.terminate()
        try:
            exit_code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            exit_code = None
        log.close()

    errors = [r for r in results if not r[3]]
    windows = []
    for w in range(int(seconds // WINDOW_S)):   # whole windows only
        lo, hi = started + w * WINDOW_S, started + (w + 1) * WINDOW_S
        lat = [r[2] for r in results if lo <= r[0] < hi]
        mem = [m for t, m in rss if lo <= t < hi]
        if not lat:
            continue
        windows.append({"t": w * WINDOW_S, "rps": round(len(lat) / WINDOW_S, 1),
                        "p50_ms": round(1000 * percentile(lat, 0.5), 2), "p99_ms": round(1000 * percentile(lat, 0.99), 2),
                        "rss_mib": round(max(mem) / 1024, 1) if mem else None})
    mems = [w["rss_mib"] for w in windows if w["rss_mib"]]
    warm = max(1, len(mems) // 5)
    after_warmup = statistics.mean(mems[warm:2 * warm]) if len(mems) >= 2 * warm else None
    at_end = statistics.mean(mems[-warm:]) if mems else None
    growth = (at_end - after_warmup) / after_warmup if after_warmup else None
    summary = {
        "minutes": args.minutes, "capacity_rps": round(capacity), "target_rps": round(target),
        "requests": len(results), "errors": len(errors), "error_samples": [e[1:] for e in errors[:10]],
        "by_endpoint": {p: sum(1 for r in results if r[1] == p) for p, _ in MIX},
        "p50_ms": round(1000 * percentile([r[2] for r in results], 0.5), 2),
        "p99_ms": round(1000 * percentile([r[2] for r in results], 0.99), 2),
        "rss_mib_after_warmup": after_warmup and round(after_warmup, 1), "rss_mib_at_end": at_end and round(at_end, 1),
        "rss_growth": growth and round(growth, 4),
        "health_max_ms": round(1000 * max(h[1] for h in health), 1) if health else None,
        "health_failures": sum(1 for h in health if not h[2]),
        "abusive_connections": dict(abusers.counts), "operator_alive": alive, "exit_code_on_sigterm": exit_code,
        "windows": windows,
    }
    text = json.dumps(summary, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.png:
        draw(summary, args.png)
    ok = not errors and alive and exit_code == 0
    sys.exit(0 if ok else 1)


def draw(summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    w = summary["windows"]
    t = [x["t"] / 60 for x in w]
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    axes[0].plot(t, [x["rps"] for x in w])
    axes[0].set_ylabel("requests/s")
    axes[0].set_title(f"soak: {summary['minutes']:g} min at ~{summary['target_rps']}/s plus abusive clients; "
                      f"{summary['errors']} errors")
    axes[1].plot(t, [x["p50_ms"] for x in w], label="p50")
    axes[1].plot(t, [x["p99_ms"] for x in w], label="p99")
    axes[1].set_ylabel("latency (ms)")
    axes[1].legend()
    axes[2].plot(t, [x["rss_mib"] for x in w])
    axes[2].set_ylabel("resident memory (MiB)")
    axes[2].set_xlabel("minutes")
    axes[2].set_ylim(0, 1.25 * max([x["rss_mib"] or 0 for x in w] + [1]))
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
