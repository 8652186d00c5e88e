"""Helpers for the operations, durability and imported-fixture tests (test_operations.py, test_durability.py,
test_imported_fixture.py): servers on copies of one initialised data dir, polling with measured delays, token header
fields, a store "outage" for SQLite, and the reference's 72-byte opt-out entries.

Only reads operator_proc / wire / derive / checks; nothing here changes them.
"""

import atexit
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from derive import StoreSalts
from operator_proc import (DEFAULT_LIFETIMES, CliError, Client, Operator, free_port, operator_binary, run_cli,
                           run_cli_json)
from wire import b64url_decode, bearer, http, now_ms

# Bounds asserted for live changes (README: every node polls its store every 500 ms by default).
OPTOUT_BOUND_S = 2.0          # opt-out written by another process -> answered as opted out
CONFIG_BOUND_S = 5.0          # clients, keys, sites, key pairs (debug build)
SALT_RELOAD_BOUND_S = 30.0    # 1 048 576 salt buckets reloaded in a debug build on a shared machine

TIMINGS = []                  # (what, seconds) measured by this run, printed as they are taken


def record(what: str, seconds: float):
    TIMINGS.append((what, seconds))
    print(f"[timing] {what}: {seconds * 1000:.0f} ms", flush=True)


REFERENCE_FIXTURES_ENV = "UID_REFERENCE_FIXTURES"


def reference_core_dir():
    """The reference operator's own core test data set (IABTechLab/uid2-operator, `src/test/resources/com.uid2.core/
    test`), which is not part of this repository: `UID_REFERENCE_FIXTURES` names the folder holding `com.uid2.core/test`
    (CI sets it when the data set is available). None when unset."""
    root = os.environ.get(REFERENCE_FIXTURES_ENV)
    return Path(root) / "com.uid2.core" / "test" if root else None


def reference_skip_reason():
    """Why the tests that need the reference data set cannot run, or None when they can."""
    d = reference_core_dir()
    if d is None:
        return f"{REFERENCE_FIXTURES_ENV} is not set: the reference's core data set is not available"
    if not d.is_dir():
        return f"{REFERENCE_FIXTURES_ENV} points at {d.parent.parent}, which has no com.uid2.core/test folder"
    return None


def fixture_core_dir() -> Path:
    reason = reference_skip_reason()
    if reason:
        pytest.skip(reason)
    return reference_core_dir()


# ------------------------------------------------------------------ one initialised data dir, copied per server

_template = {}


def template_data_dir(scope: str = "uid2") -> Path:
    """An initialised data dir (seeded store + dev credentials), created once per test process. Seeding 1 048 576
    salt buckets takes tens of seconds in a debug build, so servers start from copies of this one."""
    if scope not in _template:
        root = Path(tempfile.mkdtemp(prefix=f"uid-ops-template-{scope}-"))
        atexit.register(shutil.rmtree, root, True)
        data = root / "data"
        try:
            run_cli(operator_binary(), "init", "--data-dir", str(data), "--scope", scope)
        except CliError as e:
            pytest.fail(f"initialising a data dir failed: {e}", pytrace=False)
        if not (data / "dev-credentials.json").exists():
            pytest.fail(f"{data}/dev-credentials.json was not written by the first command", pytrace=False)
        _template[scope] = data
    return _template[scope]


def copy_data_dir(src: Path, dst: Path):
    """Copy a data dir that no process has open (operator.sqlite plus any -wal / -shm)."""
    dst.mkdir(parents=True, exist_ok=False, mode=0o700)   # owner-only, as the operator makes it
    for f in src.iterdir():
        shutil.copy2(f, dst / f.name)


def make_operator(tmp: Path, scope: str = "uid2", lifetimes=DEFAULT_LIFETIMES, extra_serve_args=(),
                  data_dir: Path = None, start: bool = True) -> Operator:
    """An Operator on a copy of the template data dir (or on `data_dir` as is), started unless start=False."""
    tmp.mkdir(parents=True, exist_ok=True)
    if data_dir is None:
        data_dir = tmp / "data"
        copy_data_dir(template_data_dir(scope), data_dir)
    op = Operator(operator_binary(), scope, False, data_dir, free_port(), lifetimes, tmp / "operator.log",
                  extra_serve_args=list(extra_serve_args))
    creds = data_dir / "dev-credentials.json"
    if creds.exists():
        op.dev = Client.from_json(json.loads(creds.read_text()))
    op.salts = StoreSalts(op.db_path)
    if start:
        op.start()
    return op


def cli(op: Operator, *args: str) -> str:
    """Run an admin command against the operator's data dir."""
    return run_cli(op.binary, *args, "--data-dir", str(op.data_dir))


def cli_json(op: Operator, *args: str):
    return run_cli_json(op.binary, *args, "--data-dir", str(op.data_dir), "--json")


def ops_status(op: Operator) -> dict:
    """The status page, read with the dev client's key (it holds MAINTAINER, which the page requires)."""
    r = http("GET", op.url("/ops/status"), headers=bearer(op.dev.api_key), timeout=10)
    assert r.status == 200, f"GET /ops/status: {r}"
    return r.json()


def healthcheck(op: Operator):
    return http("GET", op.url("/ops/healthcheck"), timeout=30)


# ------------------------------------------------------------------ polling

class Timeout(AssertionError):
    pass


def wait_for(what: str, probe, timeout_s: float, interval_s: float = 0.05, since: float = None):
    """Call probe() until it returns a truthy value; returns (value, seconds since `since` or the first call).
    An exception raised by probe counts as "not yet" and is reported when the time is up."""
    start = time.monotonic() if since is None else since
    last = None
    while True:
        try:
            value = probe()
            last = value
            if value:
                return value, time.monotonic() - start
        except Exception as e:  # noqa: BLE001 - reported below
            last = e
        if time.monotonic() - start > timeout_s:
            raise Timeout(f"{what}: not seen within {timeout_s} s; last probe result: {last!r}")
        time.sleep(interval_s)


# ------------------------------------------------------------------ token fields

def master_key_id(advertising_token: str) -> int:
    """V4 advertising token (docs/PROTOCOL.md#advertising-token-v4): bytes 2..6 of the base64url-decoded token."""
    return int.from_bytes(b64url_decode(advertising_token)[2:6], "big")


def refresh_envelope_key_id(refresh_token: str) -> int:
    """388-char refresh envelope (docs/PROTOCOL.md#refresh-envelope): bytes 1..5 of the base64-decoded envelope."""
    return int.from_bytes(base64.b64decode(refresh_token)[1:5], "big")


def identity_body(identity) -> dict:
    """The six token fields of an SDK IdentityTokens object as the JSON body the server sent."""
    return json.loads(identity.get_json_string())


# ------------------------------------------------------------------ SQLite "store unreachable"

_LOCK_HOLDER = r"""
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120, os.SEEK_SET)
        break
    except OSError as e:
        if time.monotonic() > deadline:
            print("failed", e, flush=True)
            sys.exit(1)
        time.sleep(0.005)
print("locked", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def sqlite_store_outage(db_path: Path, acquire_timeout_s: float = 30):
    """Make a WAL-mode SQLite store unusable for every other process without touching its data: a helper process holds
    exclusive POSIX locks on the wal-index (-shm) bytes 120..127 (WRITE, CKPT, RECOVER and the five READ marks), so
    readers cannot start a read transaction (SQLITE_PROTOCOL / BUSY after their retries) and writers cannot write.
    A separate process, because closing any descriptor of the file (which SQLite does whenever this process closes a
    connection) would drop this process's locks. The test process must not read the store while the outage lasts."""
    shm = str(db_path) + "-shm"
    if not os.path.exists(shm):
        pytest.fail(f"{shm} does not exist: the store is not in WAL mode or not open", pytrace=False)
    holder = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER, shm, str(acquire_timeout_s)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline().strip()
        if line != "locked":
            pytest.fail(f"could not lock {shm}: {line!r}", pytrace=False)
        yield
    finally:
        holder.stdin.close()   # the helper exits; its locks go with it
        holder.wait(timeout=30)


# ---------------------------------------------------------- reference opt-out files (docs/PROTOCOL.md#opt-out-files)

def optout_entry(flh: bytes, advertising_id: bytes, since_s: int) -> bytes:
    """One 72-byte entry: FLH(32) ‖ ad id(32) ‖ 7-byte LE seconds ‖ metadata. A 33-byte ad id keeps its last 32 bytes
    and moves the low 6 bits of its first byte into the metadata (record version 1)."""
    assert len(flh) == 32
    if len(advertising_id) == 32:
        ad, meta = advertising_id, 0
    elif len(advertising_id) == 33:
        ad, meta = advertising_id[1:], 0x40 | (advertising_id[0] & 0x3F)
    else:
        raise ValueError(f"advertising id of {len(advertising_id)} bytes")
    return flh + ad + since_s.to_bytes(8, "little")[:7] + bytes([meta])


# ------------------------------------------------------------------ processes

def kill9(op: Operator):
    """SIGKILL the server and reap it."""
    if op.proc is not None and op.proc.poll() is None:
        op.proc.kill()
        op.proc.wait(timeout=10)


__all__ = ["OPTOUT_BOUND_S", "CONFIG_BOUND_S", "SALT_RELOAD_BOUND_S", "TIMINGS", "record", "reference_core_dir",
           "reference_skip_reason",
           "fixture_core_dir", "template_data_dir", "copy_data_dir", "make_operator", "cli", "cli_json", "ops_status",
           "healthcheck", "wait_for", "Timeout", "master_key_id", "refresh_envelope_key_id", "identity_body",
           "sqlite_store_outage", "optout_entry", "kill9", "now_ms"]
