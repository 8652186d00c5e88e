"""Servers on a core data set the test writes (core_layout.py) and imports with `uid-operator import core`: the way
to give an operator the exact keysets, keys and salt buckets a reference case sets up with mocks (keysets shared
with some sites, disabled or without keys, keys that expired, buckets carrying v4 key material or rotated long ago).

They serve with `--no-rotation`: scheduled rotation would add keys and run the daily salt run at start-up, and the
case would no longer see the state it wrote (the reference's tests run without rotation too)."""

from pathlib import Path

from operator_proc import Client, Keypair, Operator, operator_binary, run_cli, run_cli_json
from ops_support import make_operator


def serve_imported(tmp: Path, core_dir: Path, dev: Client, scope: str = "uid2", identity_v3: bool = False,
                   keypair_site: int = None) -> Operator:
    """Imports `core_dir` into a new data dir under `tmp` and serves it. `dev` is the data set's client that
    `v2_call` uses by default; with `keypair_site`, a client-side key pair of that site is created before serve
    (`op.keypair`)."""
    data = tmp / "data"
    run_cli(operator_binary(), "import", "core", "--data-dir", str(data), str(core_dir))
    op = make_operator(tmp, scope, data_dir=data, start=False, extra_serve_args=["--no-rotation"])
    op.dev = dev
    op.identity_v3 = identity_v3  # serve then gets --identity-v3
    if keypair_site is not None:
        op.keypair = Keypair.from_json(run_cli_json(operator_binary(), "keypair", "create", "--data-dir", str(data),
                                                    "--site-id", str(keypair_site), "--json"))
    op.start()
    return op
