"""Batch isolation (scripts/bench-isolation): a probe's latency alone, then while identity-map requests of 5,000
emails keep the batch pool busy. Prints p50/p99 of each probe in both phases and their ratio; asserts nothing
(timings on a shared machine are evidence, not a test).

Probes (`--probes`, default both):
- generate: `/v2/token/generate`, sealed and opened in Python. `total` is what the caller sees (seal, round trip,
  open); `round_trip` is the HTTP exchange alone, so the Python crypto's own jitter can be told apart.
- echo: `POST /bench/echo` with a body of a generate request's size: no operator work at all. It is the control:
  if echo's p99 grows as much as generate's beside the maps, the tail is the machine (clients and server sharing
  cores), not the token path.

The map clients build, seal and open 5,000 emails per request in Python, which costs more CPU than the server spends
mapping them. They stand in for callers on other machines; on a two-core box their own CPU would otherwise compete
with the server's event loops and the probes, and be counted as the server's latency. `--map-clients` says how far
they are kept out of the way:
- idle (default): SCHED_IDLE, so any other runnable thread (server or probe) preempts them at once. The closest
  this box gets to clients on another machine.
- nice: nice 19 (`--map-client-nice`), the mode before: still an ordinary thread, which the scheduler lets finish
  a slice before a waking thread gets the core.
- normal: no change of priority.
`--pin-map-clients CPU` also pins them to one CPU.

    python isolation_bench.py --binary PATH [--seconds 20] [--map-clients idle|nice|normal] [--probes generate,echo]
"""

import argparse
import base64
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import Caller, free_port, percentile  # noqa: E402
from wire import open_response, seal  # noqa: E402

PROBES = 2
PAUSE_S = 0.002   # an open-ish loop: leave the server room, measure latency rather than throughput


def probe_loop(kind, port, creds, seconds, out):
    print(f"probe pid {os.getpid()}", file=sys.stderr, flush=True)
    caller = Caller(port, creds, random.Random())
    secret = base64.b64decode(creds["secret"])
    headers = {"Authorization": "Bearer " + creds["api_key"], "Content-Type": "text/plain"}
    echo_body = base64.b64encode(seal(secret, {"email": "probe@example.com", "optout_check": 1})[0])
    totals, round_trips, failures = [], [], 0
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        start = time.monotonic()
        if kind == "generate":
            email = f"iso{caller.rng.randrange(1_000_000)}@example.com"
            envelope, nonce = seal(secret, {"email": email, "optout_check": 1})
            body = base64.b64encode(envelope)
            sent = time.monotonic()
            status, answer = caller.post("/v2/token/generate", body, headers)
            received = time.monotonic()
            ok = status == 200 and open_response(secret, base64.b64decode(answer), nonce, window=(0, 1 << 62))["status"] == "success"
        else:
            sent = start
            status, answer = caller.post("/bench/echo", echo_body, {"Content-Type": "text/plain"})
            received = time.monotonic()
            ok = status == 200 and answer == echo_body
        if ok:
            totals.append(time.monotonic() - start)
            round_trips.append(received - sent)
        else:
            failures += 1
        time.sleep(PAUSE_S)
    out.put((totals, round_trips, failures))


def keep_out_of_the_way(mode, niceness, cpu):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    if mode == "idle":
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif mode == "nice":
        os.nice(niceness)


def map_loop(port, creds, seconds, out, mode, niceness, cpu):
    keep_out_of_the_way(mode, niceness, cpu)
    print(f"map client pid {os.getpid()}", file=sys.stderr, flush=True)
    caller = Caller(port, creds, random.Random())
    rng = random.Random(7)
    done = shed = 0
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        emails = [f"iso{rng.randrange(10**9)}@example.com" for _ in range(5000)]
        status, _ = caller.enveloped("/v3/identity/map", {"email": emails})
        done += status == 200
        shed += status == 503
    out.put((done, shed))


def ms(values, q):
    return round(1000 * percentile(values, q), 2) if values else None


def phase(kind, port, creds, seconds, mappers, args):
    out, maps = multiprocessing.Queue(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=probe_loop, args=(kind, port, creds, seconds, out)) for _ in range(PROBES)]
    procs += [multiprocessing.Process(target=map_loop, args=(port, creds, seconds + 2, maps, args.map_clients,
                                                             args.map_client_nice, args.pin_map_clients))
              for _ in range(mappers)]
    for p in procs[PROBES:]:
        p.start()
    time.sleep(2 if mappers else 0)   # the map load is running before the probe is measured
    for p in procs[:PROBES]:
        p.start()
    totals, round_trips, failures = [], [], 0
    for _ in range(PROBES):
        total, trip, fail = out.get()
        totals += total
        round_trips += trip
        failures += fail
    map_stats = [maps.get() for _ in range(mappers)]
    for p in procs:
        p.join()
    result = {"requests": len(totals), "failures": failures, "p50_ms": ms(totals, 0.5), "p99_ms": ms(totals, 0.99)}
    if kind == "generate":
        result.update({"round_trip_p50_ms": ms(round_trips, 0.5), "round_trip_p99_ms": ms(round_trips, 0.99)})
    if mappers:
        result.update({"maps_done": sum(d for d, _ in map_stats), "maps_shed": sum(s for _, s in map_stats)})
    return result


def ratio(loaded, alone, key):
    return round(loaded[key] / alone[key], 2) if loaded.get(key) and alone.get(key) else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--map-clients", choices=["idle", "nice", "normal"], default="idle")
    parser.add_argument("--map-client-nice", type=int, default=19, help="the niceness of --map-clients nice")
    parser.add_argument("--pin-map-clients", type=int, metavar="CPU", help="pin the map clients to this CPU")
    parser.add_argument("--probes", default="generate,echo", help="comma-separated: generate, echo")
    args = parser.parse_args()
    probes = [p for p in args.probes.split(",") if p]
    if any(p not in ("generate", "echo") for p in probes):
        parser.error("--probes takes generate and/or echo")
    tmp = Path(tempfile.mkdtemp(prefix="uid-isolation."))
    data = tmp / "data"
    subprocess.run([args.binary, "init", "--data-dir", str(data)], check=True, capture_output=True)
    creds = json.loads((data / "dev-credentials.json").read_text())
    port = free_port()
    with open(tmp / "operator.log", "wb") as log:
        server = subprocess.Popen([args.binary, "serve", "--data-dir", str(data), "--port", str(port),
                                   "--benchmark-echo-route"], stdout=log, stderr=subprocess.STDOUT)
    result = {"map_clients": args.map_clients + (f" {args.map_client_nice}" if args.map_clients == "nice" else ""),
              "pinned_map_clients": args.pin_map_clients, "cores": os.cpu_count(),
              "server_env": {k: v for k, v in os.environ.items()
                             if k.startswith(("MALLOC_", "GLIBC_TUNABLES", "UID_BATCH_", "NIO_"))}}
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        print(f"server pid {server.pid}", file=sys.stderr, flush=True)
        for kind in probes:
            print(f"{kind} alone", file=sys.stderr, flush=True)
            alone = phase(kind, port, creds, args.seconds, 0, args)
            print(f"{kind} with maps", file=sys.stderr, flush=True)
            loaded = phase(kind, port, creds, args.seconds, 2, args)
            result[kind] = {"alone": alone, "with_maps": loaded, "p99_ratio": ratio(loaded, alone, "p99_ms")}
            if kind == "generate":
                result[kind]["round_trip_p99_ratio"] = ratio(loaded, alone, "round_trip_p99_ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
