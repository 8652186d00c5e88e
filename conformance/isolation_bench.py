"""Batch isolation (scripts/bench-isolation): generate's latency alone, then while identity-map requests of 5,000
emails keep the batch pool busy. Prints p50/p99 of generate in both phases and their ratio; asserts nothing (timings
on a shared machine are evidence, not a test).

The map clients build, seal and open 5,000 emails per request in Python, which costs more CPU than the server spends
mapping them. They stand in for callers on other machines, so by default they run at nice 19: on a two-core box their
own CPU would otherwise compete with the server's event loops and be counted as the server's latency.
`--map-client-nice 0` runs them at normal priority.

    python isolation_bench.py --binary PATH [--seconds 20] [--map-client-nice 19]
"""

import argparse
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

GENERATORS = 2


def generate_loop(port, creds, seconds, out):
    caller = Caller(port, creds, random.Random())
    latencies, failures = [], 0
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        t = time.monotonic()
        if caller.call("/v2/token/generate"):
            latencies.append(time.monotonic() - t)
        else:
            failures += 1
        time.sleep(0.002)   # an open-ish loop: leave the server room, measure latency rather than throughput
    out.put((latencies, failures))


def map_loop(port, creds, seconds, out, niceness):
    os.nice(niceness)
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


def phase(port, creds, seconds, mappers, niceness=19):
    out, maps = multiprocessing.Queue(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=generate_loop, args=(port, creds, seconds, out)) for _ in range(GENERATORS)]
    procs += [multiprocessing.Process(target=map_loop, args=(port, creds, seconds + 2, maps, niceness)) for _ in range(mappers)]
    for p in procs[GENERATORS:]:
        p.start()
    time.sleep(2 if mappers else 0)   # the map load is running before generate is measured
    for p in procs[:GENERATORS]:
        p.start()
    latencies, failures = [], 0
    for _ in range(GENERATORS):
        lat, fail = out.get()
        latencies += lat
        failures += fail
    map_stats = [maps.get() for _ in range(mappers)]
    for p in procs:
        p.join()
    return {"generate_requests": len(latencies), "generate_failures": failures,
            "p50_ms": round(1000 * percentile(latencies, 0.5), 2), "p99_ms": round(1000 * percentile(latencies, 0.99), 2),
            "maps_done": sum(d for d, _ in map_stats), "maps_shed": sum(s for _, s in map_stats)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--map-client-nice", type=int, default=19)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="uid-isolation."))
    data = tmp / "data"
    subprocess.run([args.binary, "init", "--data-dir", str(data)], check=True, capture_output=True)
    creds = json.loads((data / "dev-credentials.json").read_text())
    port = free_port()
    with open(tmp / "operator.log", "wb") as log:
        server = subprocess.Popen([args.binary, "serve", "--data-dir", str(data), "--port", str(port)], stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        alone = phase(port, creds, args.seconds, 0)
        loaded = phase(port, creds, args.seconds, 2, args.map_client_nice)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {"map_client_nice": args.map_client_nice, "generate_alone": alone, "generate_with_maps": loaded,
              "p99_ratio": round(loaded["p99_ms"] / alone["p99_ms"], 2)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
