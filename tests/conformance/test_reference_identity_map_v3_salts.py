"""/v3/identity/map after salt rotation, as the reference's mapping tests pin it (REFERENCE_CASES.md): a rotated
bucket answers the raw UID of its previous salt as `p`, and a refresh_from already in the past is answered as the
next UTC midnight. One server of its own: buckets are rotated with the CLI while it serves."""

import pytest

from checks import v2_call
from ops_support import cli_json, make_operator, wait_for
from wire import db_rows, now_ms

MAP_V3 = "/v3/identity/map"
DAY_S = 86_400
RELOAD_WAIT_S = 120


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    """A server whose buckets were partly rotated with --min-age-days 0 (refresh_from = today's UTC midnight, i.e.
    already past), with identities that fell into rotated buckets and what v3 answered for them before."""
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


def test_refresh_from_in_the_past_is_answered_as_the_next_utc_midnight(rotated):
    """v3 map: a bucket whose refresh_from has passed answers r = the next UTC midnight (epoch seconds)."""
    op, hit, _ = rotated
    t0 = now_ms()
    r, resp = v2_call(op, MAP_V3, {"email": hit})
    t1 = now_ms()
    assert r.status == 200, str(r)
    for e, elem in zip(hit, resp["body"]["email"]):
        entry = op.salts.mapping("email", e, op.scope, False, t1)["entry"]
        assert entry["refresh_from"] < t0, f"the rotation was meant to leave refresh_from in the past: {entry}"
        assert elem["r"] in ((t0 // 1000 // DAY_S + 1) * DAY_S, (t1 // 1000 // DAY_S + 1) * DAY_S), (e, elem)
