"""The embedded SQLite store on a file system that fills up or turns read-only, with the operator running.

The data dir lives on a small tmpfs of its own. A full disk: a filler file takes every free byte. What must hold
while the store cannot write: a logout is never acknowledged unless stored; it is answered with the retryable 503
(status `unknown`, `Retry-After`); token generate, refresh and identity map keep being served from the in-memory
snapshot; the health check names the store problem (and stays 200: the node still serves tokens); the process never
exits. When space returns, the next logout is stored without a restart and the health check is `OK` again; after a
restart, exactly the acknowledged opt-outs are in the store.

A read-only file system: Linux refuses `mount -o remount,ro` while a process holds a file open for writing (EBUSY),
which SQLite always does for its database and WAL, so a running operator cannot be put on a read-only file system
this way; that test then skips saying so (and runs if the kernel allows it). What can happen is a start on a data dir
that is read-only: `serve` must then exit with an error naming the store (not die on a signal), and start normally
once the file system is writable again.

Needs root (mount); skips otherwise.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from uid2_client import TokenGenerateInput, Uid2PublisherClient

from checks import v2_call
from ops_support import copy_data_dir, healthcheck, make_operator, template_data_dir, wait_for
from wire import db_rows

GENERATE = "/v2/token/generate"
LOGOUT = "/v2/token/logout"
MAP = "/v3/identity/map"
# Enough logouts that a WAL which still had room is outgrown.
MAX_LOGOUTS_UNTIL_REFUSED = 400


def mount_tmpfs(where: Path, size_bytes: int):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the data dir needs root")
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command")
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (a container without CAP_SYS_ADMIN?): {r.stderr.strip()}")


def unmount(where: Path):
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(directory: Path) -> Path:
    """Take every free byte of the file system holding `directory`."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 1 << 20
        while size >= 512:   # big chunks first, then halve until not even 512 bytes fit
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    assert shutil.disk_usage(directory).free < (1 << 20), "the file system still has room"
    return filler


def data_dir_bytes(data: Path) -> int:
    return sum(f.stat().st_size for f in data.iterdir())


def on_tmpfs(tmp_path: Path, headroom: int):
    """An operator whose data dir is a copy of the template on a tmpfs `headroom` bytes larger than the copy."""
    template = template_data_dir()
    fs = tmp_path / "fs"
    mount_tmpfs(fs, data_dir_bytes(template) + headroom)
    data = fs / "data"
    copy_data_dir(template, data)
    # The log stays off the small file system: the server must not depend on it either way.
    return fs, make_operator(tmp_path, data_dir=data)


def health_mentions_writes(op):
    h = healthcheck(op)
    return h if b"refusing writes" in h.body else None


def logout(op, email):
    r, _ = v2_call(op, LOGOUT, {"email": email}, timeout=30)
    return r


def assert_refused_properly(r):
    assert r.status == 503, f"a logout the store could not write must be a retryable 503, got {r}"
    assert r.headers.get("retry-after"), f"503 without Retry-After: {r.headers}"
    body = r.json()
    assert body.get("status") == "unknown", body


def tokens_still_served(op):
    publisher = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    generated = publisher.generate_token(TokenGenerateInput.from_email("full.disk.reader@example.com"))
    assert generated.is_success(), "generate while the store refuses writes"
    refreshed = publisher.refresh_token(generated.get_identity())
    assert refreshed.is_success(), "refresh while the store refuses writes"
    r, body = v2_call(op, MAP, {"email": ["full.disk.map@example.com"]})
    assert r.status == 200 and body["body"]["email"][0].get("u"), f"identity map while the store refuses writes: {r}"


def test_full_disk_refuses_optouts_serves_tokens_and_recovers(tmp_path):
    fs, op = on_tmpfs(tmp_path, headroom=16 << 20)
    try:
        assert healthcheck(op).body == b"OK"
        acknowledged = []
        assert logout(op, "before.full@example.com").status == 200
        acknowledged.append("before.full@example.com")

        filler = fill(fs)
        refused = None
        for i in range(MAX_LOGOUTS_UNTIL_REFUSED):
            email = f"full.{i}@example.com"
            r = logout(op, email)
            if r.status == 200:
                acknowledged.append(email)   # stored: there was still room in the WAL
                continue
            refused = r
            break
        assert refused is not None, f"{MAX_LOGOUTS_UNTIL_REFUSED} logouts on a full disk were all acknowledged"
        print(f"[disk full] first refusal after {len(acknowledged) - 1} stored logouts: {refused.status}")
        assert_refused_properly(refused)
        # Refused again, not acknowledged by a half-written retry.
        assert_refused_properly(logout(op, "full.again@example.com"))

        h = health_mentions_writes(op)
        assert h is not None, f"health does not report the refused writes: {healthcheck(op)}"
        assert h.status == 200 and h.body.startswith(b"OK\n"), f"health while tokens are still served: {h}"
        print(f"[disk full] health: {h.body!r}")
        tokens_still_served(op)
        assert op.proc.poll() is None, "the operator exited on a full disk"

        filler.unlink()
        restored_at = time.monotonic()
        r, delay = wait_for("a logout stored once space is back",
                            lambda: (lambda r: r if r.status == 200 else None)(logout(op, "after.full@example.com")),
                            30, interval_s=0.5, since=restored_at)
        acknowledged.append("after.full@example.com")
        print(f"[disk free] logout stored {delay:.2f} s after space returned")
        assert healthcheck(op).body == b"OK", "health still reports the store after a write succeeded"
        assert op.proc.poll() is None

        # Exactly what was acknowledged is stored (a refused write left nothing behind), also after a restart.
        op.restart()
        stored = db_rows(op.db_path, "SELECT COUNT(*) AS n FROM optouts")[0]["n"]
        assert stored == len(acknowledged), f"{stored} opt-outs stored, {len(acknowledged)} acknowledged"
        for email in (acknowledged[0], acknowledged[-1]):
            r, body = v2_call(op, GENERATE, {"email": email, "optout_check": 1})
            assert r.status == 200 and body["status"] == "optout", f"{email} acknowledged but not opted out: {body}"
    finally:
        op.stop()
        unmount(fs)


def test_read_only_file_system_refuses_optouts_and_recovers(tmp_path):
    fs, op = on_tmpfs(tmp_path, headroom=16 << 20)
    try:
        assert logout(op, "before.ro@example.com").status == 200
        r = subprocess.run(["mount", "-o", "remount,ro", str(fs)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("Linux refuses to remount a file system read-only while the operator holds its database open "
                        f"for writing, as SQLite always does: {r.stderr.strip()}")
        try:
            assert_refused_properly(logout(op, "during.ro@example.com"))
            assert health_mentions_writes(op) is not None, f"health does not report the refused writes: {healthcheck(op)}"
            tokens_still_served(op)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(fs)], capture_output=True)
        wait_for("a logout stored once writable again",
                 lambda: (lambda r: r if r.status == 200 else None)(logout(op, "after.ro@example.com")), 30, interval_s=0.5)
        assert healthcheck(op).body == b"OK"
        assert op.proc.poll() is None
    finally:
        op.stop()
        unmount(fs)


def test_starting_on_a_read_only_data_dir_fails_cleanly_then_works(tmp_path):
    fs, op = on_tmpfs(tmp_path, headroom=16 << 20)
    try:
        op.stop()
        r = subprocess.run(["mount", "-o", "remount,ro", str(fs)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount the tmpfs read-only: {r.stderr.strip()}")
        try:
            started = subprocess.run(op._serve_args(), capture_output=True, text=True, timeout=60)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(fs)], capture_output=True)
        output = started.stdout + started.stderr
        print(f"[read-only start] exit {started.returncode}: {output.strip().splitlines()[-1] if output.strip() else ''}")
        assert started.returncode > 0, f"serve on a read-only data dir must exit with an error, not {started.returncode}"
        assert "SQLite" in output or "store" in output, f"the error does not name the store: {output[-500:]}"
        op.start()
        assert logout(op, "after.ro.start@example.com").status == 200
        assert healthcheck(op).body == b"OK"
    finally:
        op.stop()
        unmount(fs)
