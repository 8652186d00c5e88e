"""Batch isolation (scripts/bench-isolation): a probe's latency alone, then while identity-map requests of 5,000
emails keep the batch pool busy. Prints p50/p99 of each probe in both phases and their ratio; asserts nothing
(timings on a shared machine are evidence, not a test).

Probes (`--probes`, default both):
- generate: `/v2/token/generate`, sealed and opened in Python. `total` is what the caller sees (seal, round trip,
  open); `round_trip` is the HTTP exchange alone, so the Python crypto's own jitter can be told apart.
- echo: `POST /bench/echo` with a body of a generate request's size: no operator work at all. It is the control:
  if echo's p99 grows as much as generate's beside the maps, the tail is the machine (clients and server sharing
  cores), not the token path.

The map clients stand in for callers on other machines, so they are made as cheap as a client can be. Each seals
`MAP_BODIES` requests of 5,000 distinct emails before the phase and opens the first answer to each (every email must
come back mapped); after that it sends the same sealed bodies again and only checks the status and the answer's
size. Building, sealing and opening a 5,000-email request in Python costs more CPU than the server spends mapping it
(`--map-bodies fresh` still does that for every request, the mode before), and on a two-core box that CPU is taken
from the server. The request envelope is valid for two minutes; bodies are sealed again after `RESEAL_S`.

`batch_cores` is the map work the server did while the probe was measured: the CPU time of its threads at
`SCHED_IDLE` (the batch pool's; nothing else in the server runs at that policy), over the phase's wall time.
`server_cores` is all of the server's CPU over the same time.

`--map-clients` says how far the map clients are kept out of the way:
- idle (default): SCHED_IDLE, so any other runnable thread (server or probe) preempts them at once. The closest
  this box gets to clients on another machine.
- nice: nice 19 (`--map-client-nice`), the mode before: still an ordinary thread, which the scheduler lets finish
  a slice before a waking thread gets the core.
- normal: no change of priority.
`--pin-map-clients CPU` also pins them to one CPU.

    python isolation_bench.py --binary PATH [--seconds 20] [--map-clients idle|nice|normal] [--probes generate,echo]
                              [--map-bodies presealed|fresh] [--mappers 2]
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
MAP_BODIES = 4    # sealed map requests per map client, sent in turn
MAP_EMAILS = 5000
MAP_WARM_UP_S = 3   # sealing and checking MAP_BODIES requests, then a second of load
RESEAL_S = 60     # well inside the server's 120 s window for a request's timestamp
SCHED_IDLE = 5    # the policy number in /proc/PID/task/TID/stat


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


def sealed_map_bodies(caller, rng):
    """MAP_BODIES sealed v3 requests of distinct emails, each checked once by opening its answer."""
    headers = {"Authorization": "Bearer " + caller.creds["api_key"], "Content-Type": "text/plain"}
    bodies = []
    for _ in range(MAP_BODIES):
        emails = [f"iso{rng.randrange(10**12)}@example.com" for _ in range(MAP_EMAILS)]
        envelope, nonce = seal(caller.secret, {"email": emails})
        body = base64.b64encode(envelope)
        for _ in range(50):   # the pool may shed while the other client's first requests run
            status, answer = caller.post("/v3/identity/map", body, headers)
            if status != 503:
                break
            time.sleep(0.05)
        assert status == 200, f"map request answered {status}"
        opened = open_response(caller.secret, base64.b64decode(answer), nonce, window=(0, 1 << 62))
        mapped = opened["body"]["email"]
        assert opened["status"] == "success" and len(mapped) == MAP_EMAILS and all(m.get("u") for m in mapped), \
            "a sealed map request did not map every email"
        bodies.append((body, len(answer)))
    return headers, bodies


def map_loop(port, creds, seconds, out, mode, niceness, cpu, bodies_mode):
    keep_out_of_the_way(mode, niceness, cpu)
    print(f"map client pid {os.getpid()}", file=sys.stderr, flush=True)
    caller = Caller(port, creds, random.Random())
    rng = random.Random()
    done = shed = wrong = 0
    stop_at = time.monotonic() + seconds
    sealed_at, (headers, bodies) = time.monotonic(), sealed_map_bodies(caller, rng)
    turn = 0
    while time.monotonic() < stop_at:
        if bodies_mode == "fresh":
            emails = [f"iso{rng.randrange(10**9)}@example.com" for _ in range(MAP_EMAILS)]
            status, _ = caller.enveloped("/v3/identity/map", {"email": emails})
        else:
            if time.monotonic() - sealed_at > RESEAL_S:
                sealed_at, (headers, bodies) = time.monotonic(), sealed_map_bodies(caller, rng)
            body, answer_size = bodies[turn % len(bodies)]
            turn += 1
            status, answer = caller.post("/v3/identity/map", body, headers)
            # The same emails map to the same ids while salts stay put: the answer's size does not move.
            wrong += status == 200 and len(answer) != answer_size
        done += status == 200
        shed += status == 503
    out.put((done, shed, wrong))


def thread_cpu_seconds(pid):
    """(CPU seconds of the process's SCHED_IDLE threads, CPU seconds of all its threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    idle = total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue   # a thread that ended
        # After the ")" field 3 (state) is index 0: utime is field 14, stime 15, policy 41.
        used = int(fields[11]) + int(fields[12])
        total += used
        if int(fields[38]) == SCHED_IDLE:
            idle += used
    return idle / ticks, total / ticks


def ms(values, q):
    return round(1000 * percentile(values, q), 2) if values else None


def phase(kind, port, creds, seconds, mappers, args, server_pid):
    out, maps = multiprocessing.Queue(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=probe_loop, args=(kind, port, creds, seconds, out)) for _ in range(PROBES)]
    procs += [multiprocessing.Process(target=map_loop, args=(port, creds, seconds + MAP_WARM_UP_S + 1, maps, args.map_clients,
                                                             args.map_client_nice, args.pin_map_clients,
                                                             args.map_bodies))
              for _ in range(mappers)]
    for p in procs[PROBES:]:
        p.start()
    # The map load is running (its bodies sealed and checked) before the probe is measured.
    time.sleep(MAP_WARM_UP_S if mappers else 0)
    cpu_before, wall_before = thread_cpu_seconds(server_pid), time.monotonic()
    for p in procs[:PROBES]:
        p.start()
    totals, round_trips, failures = [], [], 0
    for _ in range(PROBES):
        total, trip, fail = out.get()
        totals += total
        round_trips += trip
        failures += fail
    cpu_after, wall = thread_cpu_seconds(server_pid), time.monotonic() - wall_before
    map_stats = [maps.get() for _ in range(mappers)]
    for p in procs:
        p.join()
    result = {"requests": len(totals), "failures": failures, "p50_ms": ms(totals, 0.5), "p99_ms": ms(totals, 0.99),
              "batch_cores": round((cpu_after[0] - cpu_before[0]) / wall, 2),
              "server_cores": round((cpu_after[1] - cpu_before[1]) / wall, 2)}
    if kind == "generate":
        result.update({"round_trip_p50_ms": ms(round_trips, 0.5), "round_trip_p99_ms": ms(round_trips, 0.99)})
    if mappers:
        result.update({"maps_done": sum(m[0] for m in map_stats), "maps_shed": sum(m[1] for m in map_stats),
                       "map_answers_of_the_wrong_size": sum(m[2] for m in map_stats)})
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
    parser.add_argument("--map-bodies", choices=["presealed", "fresh"], default="presealed",
                        help="send sealed bodies again (default) or build, seal and open every map request")
    parser.add_argument("--mappers", type=int, default=2, help="map client processes")
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
    result = {"map_bodies": args.map_bodies, "mappers": args.mappers, "map_clients": args.map_clients + (f" {args.map_client_nice}" if args.map_clients == "nice" else ""),
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
            alone = phase(kind, port, creds, args.seconds, 0, args, server.pid)
            print(f"{kind} with maps", file=sys.stderr, flush=True)
            loaded = phase(kind, port, creds, args.seconds, args.mappers, args, server.pid)
            result[kind] = {"alone": alone, "with_maps": loaded, "p99_ratio": ratio(loaded, alone, "p99_ms")}
            if kind == "generate":
                result[kind]["round_trip_p99_ratio"] = ratio(loaded, alone, "round_trip_p99_ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
