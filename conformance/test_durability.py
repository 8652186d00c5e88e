"""Durability (docs/DECISIONS.md#opt-outs-are-local-and-durable: an opt-out is written durably to the store before
logout returns; README: a node keeps serving from its snapshot while its store is unreachable and recovers by itself):

* an acknowledged logout survives SIGKILL of the server right after the 200 (one, then 40 concurrent with the kill
  right after the 20th acknowledgement);
* a salt rotation killed in the middle of writing leaves an intact store in which either no bucket or every bucket
  changed, and the server starts on it and serves;
* the SQLite store made unreachable under a running server (wal-index locks held by another process): tokens are
  still served, the healthcheck says why on a second line, a logout is never acknowledged without being stored, and
  the node recovers by itself once the store is back.
"""

import sqlite3
import subprocess
import threading
import time
from contextlib import closing

import pytest
from uid2_client import TokenGenerateInput, Uid2PublisherClient

import derive
from checks import check_identity, v2_call
from derive import b64
from operator_proc import operator_binary
from ops_support import (OPTOUT_BOUND_S, cli_json, copy_data_dir, healthcheck, kill9, make_operator, ops_status, record,
                         sqlite_store_outage, template_data_dir, wait_for)
from wire import db_rows, now_ms, sdk_key_collection

LOGOUT = "/v2/token/logout"
STATUS = "/v2/optout/status"
OK = {"status": "success", "body": {"optout": "OK"}}


@pytest.fixture(scope="module")
def op(tmp_path_factory):
    o = make_operator(tmp_path_factory.mktemp("durability"))
    yield o
    o.stop()


def pub(op):
    return Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)


def uid(op, email):
    return b64(op.salts.derive("email", email, op.scope).raw_uid)


def restart_after_kill(op):
    with open(op.log_path, "ab") as log:
        log.write(b"\n----- restarted after SIGKILL (conformance suite) -----\n")
    op.start()


def check_opted_out(op, emails, acknowledged_at: dict):
    """After the restart: every email is listed by /v2/optout/status and generate answers optout."""
    ids = [uid(op, e) for e in emails]
    for i in range(0, len(ids), 1000):
        r, resp = v2_call(op, STATUS, {"advertising_ids": ids[i:i + 1000]})
        assert r.status == 200, str(r)
        listed = {e["advertising_id"]: e["opted_out_since"] for e in resp["body"]["opted_out"]}
        lost = [e for e in emails[i:i + 1000] if uid(op, e) not in listed]
        assert not lost, f"{len(lost)} acknowledged logouts lost after SIGKILL + restart, e.g. {lost[:3]}"
        for e in emails[i:i + 1000]:
            since = listed[uid(op, e)]
            assert since // 1000 <= acknowledged_at[e] // 1000 + 1, (e, since, acknowledged_at[e])
    p = pub(op)
    for e in emails:
        assert p.generate_token(TokenGenerateInput.from_email(e)).is_optout(), f"generate for {e} after restart"


def test_acknowledged_logout_survives_sigkill(op):
    email = f"durable.{now_ms()}@example.com"
    assert pub(op).generate_token(TokenGenerateInput.from_email(email)).is_success()
    r, resp = v2_call(op, LOGOUT, {"email": email})
    acked = now_ms()
    kill9(op)  # right after the 200: nothing else gets a chance to flush
    assert r.status == 200 and resp == OK, (str(r), resp)
    restart_after_kill(op)
    check_opted_out(op, [email], {email: acked})
    rows = db_rows(op.db_path, "SELECT opted_out_since FROM optouts WHERE flh = ?",
                   (op.salts.derive("email", email, op.scope).first_level_hash,))
    assert len(rows) == 1, rows


def test_concurrent_acknowledged_logouts_survive_sigkill(op):
    """40 logouts in flight at once; SIGKILL as soon as 20 are acknowledged. Every 200 received (including any
    that arrive after the kill) must be in the store after the restart; the others may or may not be."""
    stamp = now_ms()
    emails = [f"durable.{i}.{stamp}@example.com" for i in range(40)]
    acked, errors, lock = {}, {}, threading.Lock()
    killed = threading.Event()
    go = threading.Barrier(len(emails))

    def logout(e):
        go.wait()
        try:
            r, resp = v2_call(op, LOGOUT, {"email": e}, timeout=30)
        except Exception as ex:  # noqa: BLE001 - connection reset by the kill
            with lock:
                errors[e] = repr(ex)
            return
        with lock:
            if r.status == 200 and resp == OK:
                acked[e] = now_ms()
                if len(acked) == 20 and not killed.is_set():
                    killed.set()
                    kill9(op)
            else:
                errors[e] = str(r)

    threads = [threading.Thread(target=logout, args=(e,)) for e in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    print(f"[concurrent logouts] {len(acked)} acknowledged, {len(errors)} not (killed: {killed.is_set()})")
    assert len(acked) >= 20, f"fewer than 20 logouts acknowledged: {errors}"
    assert killed.is_set()
    kill9(op)
    restart_after_kill(op)
    check_opted_out(op, sorted(acked), acked)


# ------------------------------------------------------------------ crash in the middle of a salt rotation

def changed_buckets(db_path, template_db) -> int:
    with closing(sqlite3.connect(str(db_path), timeout=30)) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        assert integrity == [("ok",)], f"PRAGMA integrity_check after the crash: {integrity[:10]}"
        db.execute("ATTACH DATABASE ? AS before", (f"file:{template_db}?mode=ro",))
        return db.execute("SELECT COUNT(*) FROM salt_buckets n JOIN before.salt_buckets o USING (position) "
                          "WHERE n.current_salt IS NOT o.current_salt OR n.last_updated != o.last_updated "
                          "OR n.previous_salt IS NOT o.previous_salt").fetchone()[0]


def wal_bytes(data_dir) -> int:
    try:
        return (data_dir / "operator.sqlite-wal").stat().st_size
    except FileNotFoundError:
        return 0


def rotate_and_kill(tmp, name, when) -> tuple:
    """Copy the initialised data dir, start `salt rotate --fraction 1 --include-not-due` on it and SIGKILL it when
    `when(data_dir, elapsed_s)` says so. Returns (data_dir, killed, elapsed_s, wal size at the kill)."""
    data = tmp / name
    copy_data_dir(template_data_dir(), data)
    proc = subprocess.Popen([operator_binary(), "salt", "rotate", "--data-dir", str(data), "--fraction", "1",
                             "--include-not-due", "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    while proc.poll() is None and not when(data, time.monotonic() - start):
        if time.monotonic() - start > 600:
            break
        time.sleep(0.01)
    elapsed, wal = time.monotonic() - start, wal_bytes(data)
    killed = proc.poll() is None
    if killed:
        proc.kill()
    proc.wait(30)
    return data, killed, elapsed, wal


def test_salt_rotation_killed_mid_write_is_atomic(tmp_path):
    template_db = template_data_dir() / "operator.sqlite"
    total = derive.FULL_BUCKET_COUNT
    trials = [("after 0.5 s", lambda d, t: t >= 0.5),
              ("while writing (WAL > 24 MB)", lambda d, t: wal_bytes(d) > 24 * 1024 * 1024)]
    outcomes = []
    for name, when in trials:
        data, killed, elapsed, wal = rotate_and_kill(tmp_path, name.split()[0] + str(len(outcomes)), when)
        changed = changed_buckets(data / "operator.sqlite", template_db)
        outcomes.append((name, killed, round(elapsed, 2), wal, changed, data))
        print(f"[salt rotate --fraction 1, SIGKILL {name}] killed={killed} at {elapsed:.2f} s, WAL {wal} bytes, "
              f"{changed} of {total} buckets changed")
        assert changed in (0, total), f"SIGKILL {name} ({elapsed:.2f} s, WAL {wal} bytes) left {changed} of {total} " \
                                      "buckets rotated: the rotation is not atomic"
    mid_write = [o for o in outcomes if o[1] and o[3] > 24 * 1024 * 1024]
    assert mid_write, f"no trial killed the rotation while it was writing: {[o[:5] for o in outcomes]}"

    # the server starts on the crashed store and serves identities derived from it
    crashed = mid_write[-1][5]
    op = make_operator(tmp_path / "after-crash", data_dir=crashed)
    try:
        email = f"after.crash.{now_ms()}@example.com"
        t0 = now_ms()
        r, resp = v2_call(op, "/v2/token/generate", {"email": email})
        t1 = now_ms()
        assert r.status == 200 and resp["status"] == "success", (str(r), resp)
        check_identity(op, sdk_key_collection(op.db_path, op.scope, 999), resp["body"], "email", email, t0, t1)
        r, resp = v2_call(op, "/v3/identity/map", {"email": [email]})
        assert r.status == 200 and resp["body"]["email"][0]["u"] == uid(op, email), resp
    finally:
        op.stop()


# ------------------------------------------------------------------ store unreachable

def test_store_unreachable_then_back(op):
    p = pub(op)
    email = f"outage.{now_ms()}@example.com"
    kept = f"outage.kept.{now_ms()}@example.com"
    before = p.generate_token(TokenGenerateInput.from_email(email))
    assert before.is_success()
    kept_uid = uid(op, kept)  # the store cannot be read during the outage, by this process either
    logout_result = {}

    with sqlite_store_outage(op.db_path):
        t_lock = time.monotonic()
        # requests that need only the snapshot keep working
        gen = p.generate_token(TokenGenerateInput.from_email(kept))
        assert gen.is_success(), gen.status
        assert p.refresh_token(before.get_identity()).is_success()
        r, resp = v2_call(op, "/v3/identity/map", {"email": [kept]})
        assert r.status == 200 and resp["body"]["email"][0]["u"] == kept_uid, (str(r), resp)

        def reported():
            h = healthcheck(op)
            return h if len(h.body.decode().splitlines()) > 1 else None
        h, delay = wait_for("healthcheck reports the unreachable store", reported, 60, interval_s=0.5, since=t_lock)
        record("store locked -> healthcheck reports it", delay)
        lines = h.body.decode().splitlines()
        assert h.status == 200, f"healthcheck while serving from the snapshot: {h}"
        assert lines[0] == "OK" and "store" in lines[1] and "unreachable" in lines[1], lines
        sync = ops_status(op)["sync"]
        assert isinstance(sync.get("failing_since_ms"), int) and sync.get("last_error"), sync

        # a logout cannot be stored now: it must not be acknowledged (unless it is stored once the store is back)
        def logout():
            t = time.monotonic()
            logout_result["answer"] = v2_call(op, LOGOUT, {"email": email}, timeout=120)
            logout_result["seconds"] = time.monotonic() - t
        th = threading.Thread(target=logout)
        th.start()
        th.join(25)
        answered_during_outage = not th.is_alive()
        assert p.generate_token(TokenGenerateInput.from_email(kept)).is_success(), "generate during a pending write"

    released = time.monotonic()
    th.join(120)
    assert not th.is_alive(), "logout never answered"
    r, resp = logout_result["answer"]
    print(f"[store outage] logout answered {'during' if answered_during_outage else 'after'} the outage after "
          f"{logout_result['seconds']:.1f} s: {r.status} {r.body[:200]!r}")
    if r.status == 200:
        assert resp == OK, resp
        assert not answered_during_outage, "logout acknowledged while the store could not be written"
    else:
        assert 500 <= r.status < 600, f"a logout that could not be stored must be a 5xx, got {r}"

    h, delay = wait_for("healthcheck back to OK", lambda: (lambda x: x if x.body == b"OK" else None)(healthcheck(op)),
                        60, interval_s=0.2, since=released)
    record("store back -> healthcheck OK", delay)
    assert h.status == 200
    sync = ops_status(op)["sync"]
    assert "failing_since_ms" not in sync or sync["failing_since_ms"] is None, sync

    listed = db_rows(op.db_path, "SELECT 1 FROM optouts WHERE flh = ?",
                     (op.salts.derive("email", email, op.scope).first_level_hash,))
    if r.status == 200:
        assert listed, "logout acknowledged (200) but not in the store"
    # changes made by another process are picked up again
    out = cli_json(op, "optout", "add", "--email", kept)
    since = time.monotonic()
    _, delay = wait_for("opt-out applied after recovery",
                        lambda: p.generate_token(TokenGenerateInput.from_email(kept)).is_optout(), 30, since=since)
    record("after recovery: optout add -> applied", delay)
    assert delay <= OPTOUT_BOUND_S
    r, resp = v2_call(op, STATUS, {"advertising_ids": [uid(op, kept)]})
    assert resp["body"]["opted_out"] == [{"advertising_id": uid(op, kept),
                                          "opted_out_since": out["opted_out_since"] * 1000}], resp
    # and logout works again
    r, resp = v2_call(op, LOGOUT, {"email": email})
    assert r.status == 200 and resp == OK, (str(r), resp)
