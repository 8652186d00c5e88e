"""/v3/identity/map after salt rotation, as the reference's mapping tests pin it (REFERENCE_CASES.md): a rotated
bucket answers the raw UID of its previous salt as `p`, and its refresh_from, which a salt run always sets in the
future, as `r`. One server of its own: buckets are rotated with the CLI while it serves."""

import pytest

from checks import v2_call
from ops_support import cli_json, make_operator, wait_for
from wire import db_rows, now_ms

MAP_V3 = "/v3/identity/map"
RELOAD_WAIT_S = 120


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    """A server whose buckets were partly rotated (a forced run), with identities that fell into rotated buckets and
    what v3 answered for them before."""
    op = make_operator(tmp_path_factory.mktemp("reference-salts"))
    emails = [f"salt.ref.{i}.{now_ms()}@example.com" for i in range(2000)]
    r, resp = v2_call(op, MAP_V3, {"email": emails})
    assert r.status == 200, str(r)
    before = dict(zip(emails, resp["body"]["email"]))
    t_rot = now_ms()
    cli_json(op, "salt", "rotate", "--fraction", "0.01", "--include-not-due", "--min-age-days", "0")
    positions = {row["position"] for row in db_rows(op.db_path, "SELECT position FROM salt_buckets "
                                                                "WHERE last_updated >= ?", (t_rot,))}
    hit = [e for e in emails if op.salts.derive("email", e, op.scope).bucket_index in positions]
    assert hit, "no identity fell into a rotated bucket"

    def reloaded():
        rr, rp = v2_call(op, MAP_V3, {"email": [hit[0]]})
        return rr.status == 200 and rp["body"]["email"][0].get("u") != before[hit[0]]["u"]
    wait_for("v3 map answers the rotated salts", reloaded, RELOAD_WAIT_S, interval_s=0.2)
    yield op, hit[:50], before
    op.stop()


def test_rotated_bucket_answers_the_previous_raw_uid_as_p(rotated):
    """v3 map: after rotation `u` is the new raw UID and `p` the one answered before (within 90 days)."""
    op, hit, before = rotated
    r, resp = v2_call(op, MAP_V3, {"email": hit})
    assert r.status == 200, str(r)
    for e, elem in zip(hit, resp["body"]["email"]):
        expected = op.salts.mapping("email", e, op.scope, False, now_ms())
        assert elem["u"] == expected["u"] != before[e]["u"], (e, elem)
        assert elem["p"] == before[e]["u"], f"p must be the raw UID answered before the rotation: {elem}"


def test_rotated_bucket_answers_its_refresh_from_in_the_future(rotated):
    """v3 map: `r` is the bucket's stored refresh_from while it lies ahead (the reference's rule; a passed one
    would be answered as the next UTC midnight, pinned in SaltScheduleTests). A salt run always moves the
    buckets it touches to a refresh_from in the future, so rotated buckets answer exactly that."""
    op, hit, _ = rotated
    t0 = now_ms()
    r, resp = v2_call(op, MAP_V3, {"email": hit})
    t1 = now_ms()
    assert r.status == 200, str(r)
    for e, elem in zip(hit, resp["body"]["email"]):
        entry = op.salts.mapping("email", e, op.scope, False, t1)["entry"]
        assert entry["refresh_from"] > t1, f"a salt run left refresh_from in the past: {entry}"
        assert elem["r"] == entry["refresh_from"] // 1000, (e, elem)
        assert elem["r"] * 1000 > t0
