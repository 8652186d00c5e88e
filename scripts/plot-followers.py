"""Plots scripts/simulate-followers' results (uid-bench --part followers JSON) for docs/SCALING.md:
the database's CPU and transactions against the number of followers, with the model (a fixed part
plus a per-node part, fitted by least squares), and how long opt-outs and a salt rotation take to reach every follower.

    python3 scripts/plot-followers.py docs/scaling-followers.json docs/scaling-followers.png
"""

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def linear_fit(xs, ys):
    """Least squares y = a + b·x: the model's fixed part a (the writer, the idle server) and per-node part b."""
    pairs = [(x, y) for x, y in zip(xs, ys) if not math.isnan(y)]
    count = len(pairs)
    mean_x = sum(x for x, _ in pairs) / count
    mean_y = sum(y for _, y in pairs) / count
    spread = sum((x - mean_x) ** 2 for x, _ in pairs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in pairs) / spread if spread else math.nan
    return mean_y - slope * mean_x, slope


def main(source, target):
    with open(source) as f:
        runs = sorted(json.load(f), key=lambda r: r["followers"])
    n = [r["followers"] for r in runs]
    field = lambda name: [number(r[name]) for r in runs]  # noqa: E731
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    line = [0, max(n)]

    cpu = [c * 100 for c in field("serverCPUCoresSteady")]
    fixed, slope = linear_fit(n, cpu)
    ax = axes[0][0]
    ax.plot(n, cpu, "o-", label="measured")
    ax.plot(line, [fixed + slope * x for x in line], "--", label=f"model: {fixed:.2f} % + {slope:.4f} % per node")
    ax.set(title="PostgreSQL CPU, steady polling + opt-outs", xlabel="followers", ylabel="% of one core")
    ax.legend()

    tps = field("transactionsPerSecond")
    fixed, slope = linear_fit(n, tps)
    ax = axes[0][1]
    ax.plot(n, tps, "o-", label="measured")
    ax.plot(line, [fixed + slope * x for x in line], "--", label=f"model: {fixed:.1f} + {slope:.2f} per node")
    ax.set(title="PostgreSQL transactions per second", xlabel="followers", ylabel="transactions/s")
    ax.legend()

    ax = axes[1][0]
    for name, label in [("optOutLagP50Millis", "p50"), ("optOutLagP99Millis", "p99"), ("optOutLagMaxMillis", "max")]:
        ax.plot(n, field(name), "o-", label=label)
    poll = runs[0]["pollMillis"]
    ax.axhline(poll, color="grey", linestyle=":", label=f"poll interval {poll} ms")
    ax.set(title="Opt-out: acknowledged → served by a follower", xlabel="followers", ylabel="ms")
    ax.legend()

    ax = axes[1][1]
    ax.plot(n, field("saltPickupP50Millis"), "o-", label="p50 of followers")
    ax.plot(n, field("saltPickupAllMillis"), "o-", label="all followers")
    ax.plot(n, field("keyPickupAllMillis"), "s--", label="key rotation, all followers")
    buckets = runs[0]["rotatedBuckets"]
    ax.set(title=f"Salt rotation ({buckets} buckets) → served by followers", xlabel="followers", ylabel="ms")
    ax.legend()

    figure.suptitle(f"{runs[0]['buckets']:,} salt buckets, {runs[0]['optOutsPerSecond']:g} opt-outs/s, "
                    f"poll every {poll} ms ± 10 %, one PostgreSQL on the same 2-core machine")
    figure.tight_layout()
    figure.savefig(target, dpi=90)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
