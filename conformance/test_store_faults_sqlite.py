"""The embedded SQLite store on a file system that fills up or turns read-only, with the operator running.

The data dir lives on a small tmpfs of its own. A full disk: a filler file takes every free byte. What must hold
while the store cannot write: a logout is never acknowledged unless stored; it is answered with the retryable 503
(status `unknown`, `Retry-After`); token generate, refresh and identity map keep being served from the in-memory
snapshot; the health check names the store problem (and stays 200: the node still serves tokens); the process never
exits. When space returns, the next logout is stored without a restart and the health check is `OK` again; after a
restart, exactly the acknowledged opt-outs are in the store.

A read-only file system: Linux refuses `mount -o remount,ro` while a process holds a file open for writing (EBUSY),
as SQLite always does, but the kernel itself turns a file system read-only on a journal error. The running-operator
test therefore puts the data dir on a loop-mounted ext4 with `errors=remount-ro` and triggers ext4's error hook.
A start on a data dir that is read-only: `serve` must exit with an error naming the store (not die on a signal),
and start normally once the file system is writable again.

Needs root (mount, losetup); skips otherwise.
"""

import os
import shutil
import signal
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


class Ext4Image:
    """A small ext4 file system on a loop device, mounted with `errors=remount-ro`: the kernel turns it read-only
    by itself on an error, as it does a production disk whose journal fails, while files stay open for writing."""

    def __init__(self, tmp_path: Path, size_bytes: int):
        if os.geteuid() != 0:
            pytest.skip("a loop-mounted ext4 file system needs root")
        for tool in ("mount", "losetup", "mkfs.ext4", "e2fsck"):
            if shutil.which(tool) is None:
                pytest.skip(f"no `{tool}` command")
        self.image = tmp_path / "ext4.img"
        self.where = tmp_path / "ext4"
        self.where.mkdir()
        with open(self.image, "wb") as f:
            f.truncate(size_bytes)
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
        self.device = None
        self.mount()

    def mount(self):
        attached = subprocess.run(["losetup", "--find", "--show", str(self.image)], capture_output=True, text=True)
        if attached.returncode != 0:
            pytest.skip(f"no loop device here: {attached.stderr.strip()}")
        self.device = attached.stdout.strip()
        mounted = subprocess.run(["mount", "-t", "ext4", "-o", "errors=remount-ro", self.device, str(self.where)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            self.detach()
            pytest.skip(f"cannot mount ext4 from a loop device here: {mounted.stderr.strip()}")

    def fail(self):
        """ext4's own test hook: records a file system error, which aborts the journal and remounts read-only."""
        trigger = Path("/sys/fs/ext4") / Path(self.device).name / "trigger_fs_error"
        if not trigger.exists():
            pytest.skip(f"this kernel has no {trigger}")
        trigger.write_text("conformance suite: read-only file system\n")
        options = next(line.split()[3] for line in Path("/proc/mounts").read_text().splitlines()
                       if line.split()[1] == str(self.where))
        # newer kernels say `emergency_ro` and keep showing `rw`
        assert {"ro", "emergency_ro"} & set(options.split(",")), f"ext4 did not turn read-only after the error: {options}"

    def repair(self):
        """What an administrator does: unmount, check the file system, mount it again."""
        self.unmount()
        subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True)
        self.mount()

    def unmount(self):
        subprocess.run(["umount", str(self.where)], capture_output=True)
        self.detach()

    def detach(self):
        if self.device:
            subprocess.run(["losetup", "-d", self.device], capture_output=True)
            self.device = None


def test_file_system_turning_read_only_while_serving(tmp_path):
    """The disk turns read-only under a running operator (ext4 `errors=remount-ro` after a journal error): logouts are
    refused with a retryable 503 and never acknowledged, tokens are still served, the health check names the store,
    SIGTERM still ends the process normally, and after the file system is repaired and the operator restarted,
    exactly the acknowledged opt-outs are stored. (Recovery needs the restart: Linux keeps such a file system
    read-only until it is unmounted and checked, which a process holding it open cannot survive.)"""
    template = template_data_dir()
    fs = Ext4Image(tmp_path, data_dir_bytes(template) * 5 // 4 + (64 << 20))
    op = None
    try:
        data = fs.where / "data"
        copy_data_dir(template, data)
        os.sync()   # the copy is the test's doing, not the operator's: make it durable before the journal fails
        op = make_operator(tmp_path, data_dir=data)
        acknowledged = ["before.ro.1@example.com", "before.ro.2@example.com"]
        for email in acknowledged:
            assert logout(op, email).status == 200

        fs.fail()
        refused = logout(op, "during.ro@example.com")
        print(f"[read-only] logout on a read-only file system: {refused.status} {refused.json()}")
        assert_refused_properly(refused)
        assert_refused_properly(logout(op, "during.ro.again@example.com"))
        h, delay = wait_for("health naming the store", lambda: health_mentions_writes(op), 10)
        assert h.status == 200 and h.body.startswith(b"OK\n"), f"health while tokens are still served: {h}"
        tokens_still_served(op)
        assert op.proc.poll() is None, "the operator exited when its file system turned read-only"

        op.proc.send_signal(signal.SIGTERM)
        code = op.proc.wait(timeout=30)
        print(f"[read-only] SIGTERM: exit {code}")
        assert code >= 0, f"the operator died on signal {-code} instead of exiting"

        fs.repair()
        op.start()
        stored = {row["n"] for row in db_rows(op.db_path, "SELECT COUNT(*) AS n FROM optouts")}
        assert stored == {len(acknowledged)}, f"{stored} opt-outs stored, {len(acknowledged)} acknowledged"
        for email in acknowledged:
            r, body = v2_call(op, GENERATE, {"email": email, "optout_check": 1})
            assert r.status == 200 and body["status"] == "optout", f"{email} acknowledged but not opted out: {body}"
        r, body = v2_call(op, GENERATE, {"email": "during.ro@example.com", "optout_check": 1})
        assert r.status == 200 and body["status"] == "success", f"a refused logout was stored anyway: {body}"
        assert logout(op, "after.repair@example.com").status == 200
        assert healthcheck(op).body == b"OK"
    finally:
        if op is not None:
            op.stop()
        fs.unmount()


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
