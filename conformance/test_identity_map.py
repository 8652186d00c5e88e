"""POST /v3/identity/map, /v2/identity/map and /v2/identity/buckets (docs/PROTOCOL.md#identity-map-v3 and after)
through the SDK's IdentityMapV3Client / IdentityMapClient and raw envelopes; every value is checked against the
suite's own derivation from the store's salts."""

import datetime as dt
import random

import pytest
from uid2_client import IdentityMapClient, IdentityMapInput, IdentityMapV3Client, IdentityMapV3Input
from uid2_client.unmapped_identity_reason import UnmappedIdentityReason

import derive
from checks import assert_json_error, client_error, v2_call
from conftest import LIMITS
from derive import b64
from wire import now_ms

V3 = "/v3/identity/map"
V2 = "/v2/identity/map"
BUCKETS = "/v2/identity/buckets"
MISSING_V3 = "Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash] must be specified"
MISSING_V2 = "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"
INCORRECT = "Incorrect request format"
TOO_LARGE = "Request payload is too large"
DEFAULT_BATCH = 5000
KINDS = ("email", "email_hash", "phone", "phone_hash")


def h(text: str) -> str:
    return b64(derive.sha256(text))


def expected(op, kind: str, value: str, t0: int, t1: int) -> list:
    """The mapping at the two ends of the request window (r may differ only if a UTC midnight falls inside)."""
    return [op.salts.mapping(kind, value, op.scope, op.identity_v3, t) for t in (t0, t1)]


def check_v3_mapped(op, elem, kind: str, value: str, t0: int, t1: int):
    e0, e1 = expected(op, kind, value, t0, t1)
    assert isinstance(elem, dict) and set(elem) == {"u", "p", "r"}, f"{kind} {value!r}: {elem}"
    assert elem["u"] == e1["u"], f"{kind} {value!r}: u {elem['u']} != derived {e1['u']}"
    assert elem["p"] == e1["p"], f"{kind} {value!r}: p {elem['p']!r} != expected {e1['p']!r}"
    assert type(elem["r"]) is int, f"r must be an integer (epoch seconds): {elem['r']!r}"
    assert elem["r"] in (e0["r"], e1["r"]), f"{kind} {value!r}: r {elem['r']} != expected {e1['r']} (seconds)"
    assert elem["r"] >= t0 // 1000, f"r {elem['r']} is before now ({t0 // 1000} s)"
    return e1


def v3(op, payload, client=None):
    r, resp = v2_call(op, V3, payload, client=client or op.mapper or op.dev)
    return r, resp


def v2(op, payload, client=None):
    return v2_call(op, V2, payload, client=client or op.mapper or op.dev)


# ------------------------------------------------------------------ v3 through the SDK

def test_v3_sdk_maps_emails_phones_and_hashes(operator):
    op = operator
    emails = ["Map.User@Example.com", "map.user2@example.org", "validate@example.com", "refresh-optout@example.com"]
    phones = ["+14155550199", "+12345678901", "+00000000002"]
    hashed_emails = [h("hashed.map@example.com")]
    hashed_phones = [h("+14155550198")]
    inp = (IdentityMapV3Input.from_emails(emails + ["optout@example.com"])
           .with_phones(phones + ["+00000000000"])
           .with_hashed_emails(hashed_emails + ["not-a-hash"])
           .with_hashed_phones(hashed_phones))
    client = IdentityMapV3Client(op.base_url, (op.mapper or op.dev).api_key, (op.mapper or op.dev).secret_b64)
    t0 = now_ms()
    resp = client.generate_identity_map(inp)
    t1 = now_ms()
    assert resp.is_success(), resp.status
    mapped, unmapped = resp.mapped_identities, resp.unmapped_identities
    cases = [("email", e) for e in emails] + [("phone", p) for p in phones] + \
            [("email_hash", x) for x in hashed_emails] + [("phone_hash", x) for x in hashed_phones]
    for kind, value in cases:
        assert value in mapped, f"{value!r} not mapped; unmapped: { {k: v.raw_reason for k, v in unmapped.items()} }"
        m = mapped[value]
        e0, e1 = expected(op, kind, value, t0, t1)
        assert m.current_raw_uid == e1["u"], f"{value!r}: {m.current_raw_uid} != derived {e1['u']}"
        assert m.previous_raw_uid is None and e1["p"] is None, "fresh buckets have no previous raw UID"
        assert int(m.refresh_from.timestamp()) in (e0["r"], e1["r"])
        assert m.refresh_from > dt.datetime.now(tz=dt.timezone.utc) - dt.timedelta(seconds=5)
    assert unmapped["optout@example.com"].reason == UnmappedIdentityReason.OPTOUT
    assert unmapped["+00000000000"].reason == UnmappedIdentityReason.OPTOUT
    assert unmapped["not-a-hash"].reason == UnmappedIdentityReason.INVALID_IDENTIFIER
    assert unmapped["not-a-hash"].raw_reason == "invalid identifier"
    assert len(mapped) == len(cases) and len(unmapped) == 3


# ------------------------------------------------------------------ v3 raw

def test_v3_raw_mixed_types_aligned_by_index(operator):
    op = operator
    req = {
        "email": ["Map.User@Example.com", "not-an-email", "optout@example.com", "validate@example.com",
                  " Jane.Doe+x@GMail.com "],
        "phone": ["+14155550199", "12345", "+00000000000", "+00000000002"],
        "email_hash": [h("hashed.map@example.com"), derive.sha256("hex.map@example.com").hex().upper(), "bad-hash",
                       h("optout@example.com")],
        "phone_hash": [h("+14155550198"), "not base64!", h("+00000000000")],
    }
    want = {
        "email": ["ok", "invalid identifier", "optout", "ok", "ok"],
        "phone": ["ok", "invalid identifier", "optout", "ok"],
        "email_hash": ["ok", "ok", "invalid identifier", "optout"],
        "phone_hash": ["ok", "invalid identifier", "optout"],
    }
    t0 = now_ms()
    r, resp = v3(op, req)
    t1 = now_ms()
    assert r.status == 200, str(r)
    assert resp["status"] == "success" and set(resp) == {"status", "body"}, resp
    body = resp["body"]
    assert set(body) == set(KINDS), body.keys()
    for kind in KINDS:
        assert isinstance(body[kind], list) and len(body[kind]) == len(req[kind]), (kind, body[kind])
        for value, outcome, elem in zip(req[kind], want[kind], body[kind]):
            if outcome == "ok":
                check_v3_mapped(op, elem, kind, value, t0, t1)
            else:
                assert elem == {"e": outcome}, f"{kind} {value!r}: {elem} != {{'e': {outcome!r}}}"


def test_v3_raw_and_hashed_inputs_agree(operator):
    r, resp = v3(operator, {"email": ["same.person@example.com"], "email_hash": [h("same.person@example.com")],
                            "phone": ["+14155550111"], "phone_hash": [derive.sha256("+14155550111").hex()]})
    assert r.status == 200, str(r)
    b = resp["body"]
    assert b["email"][0]["u"] == b["email_hash"][0]["u"]
    assert b["phone"][0]["u"] == b["phone_hash"][0]["u"]
    assert b["email"][0]["u"] != b["phone"][0]["u"]


def test_v3_absent_and_null_types_come_back_empty(operator):
    t0 = now_ms()
    r, resp = v3(operator, {"phone": ["+14155550122"], "email": None})
    t1 = now_ms()
    assert r.status == 200, str(r)
    body = resp["body"]
    assert body["email"] == [] and body["email_hash"] == [] and body["phone_hash"] == [], body
    check_v3_mapped(operator, body["phone"][0], "phone", "+14155550122", t0, t1)


def test_v3_fresh_store_has_no_previous_uid_and_r_is_bucket_refresh_from(operator):
    """Generated buckets have no previous salt: p null; r = refresh_from/1000."""
    value = "fresh.bucket@example.com"
    t0 = now_ms()
    r, resp = v3(operator, {"email": [value]})
    t1 = now_ms()
    assert r.status == 200, str(r)
    e = check_v3_mapped(operator, resp["body"]["email"][0], "email", value, t0, t1)
    entry = e["entry"]
    assert not entry["previous_salt"] and entry["previous_key_id"] is None, entry
    assert resp["body"]["email"][0]["p"] is None
    if entry["refresh_from"] >= t1:
        assert resp["body"]["email"][0]["r"] == entry["refresh_from"] // 1000


@pytest.mark.parametrize("payload,message", [
    (None, MISSING_V3), ({}, MISSING_V3),
    ({"foo": ["a@example.com"]}, INCORRECT),
    ({"email": ["a@example.com"], "link_id": "x"}, INCORRECT),
    ({"email": "a@example.com"}, INCORRECT),
    ({"phone": {"x": "+14155550100"}}, INCORRECT),
    ({"email_hash": 5}, INCORRECT),
    ({"email": ["a@example.com", None]}, INCORRECT),
    ({"phone_hash": [None]}, INCORRECT),
], ids=["no-payload", "empty", "unknown-key", "link_id", "string", "object", "number", "null-element",
        "only-null-element"])
def test_v3_strict_validation(operator, payload, message):
    r, _ = v3(operator, payload)
    client_error(r, message)


def test_v3_payload_not_json(operator):
    r, _ = v3(operator, b"not json")
    client_error(r, "Invalid payload in body: Data is not valid json string.")


def test_v3_needs_mapper_role(operator):
    other = operator.other_site
    if other is None:
        pytest.fail(f"no GENERATOR-only client of another site: {operator.other_site_error}")
    r, _ = v3(operator, {"email": ["a@example.com"]}, client=other)
    assert_json_error(r, 401, {"status": "unauthorized"})
    r, _ = v2(operator, {"email": ["a@example.com"]}, client=other)
    assert_json_error(r, 401, {"status": "unauthorized"})


def test_v3_default_batch_limit(operator):
    hashes = [h(f"batch{i}@example.com") for i in range(DEFAULT_BATCH + 1)]
    r, _ = v3(operator, {"email_hash": hashes})
    assert_json_error(r, 400, status_string="client_error", message_prefix=TOO_LARGE)
    t0 = now_ms()
    r, resp = v3(operator, {"email_hash": hashes[:DEFAULT_BATCH]})
    t1 = now_ms()
    assert r.status == 200, f"{DEFAULT_BATCH} identifiers must be accepted: {r}"
    out = resp["body"]["email_hash"]
    assert len(out) == DEFAULT_BATCH
    for i in (0, 1234, DEFAULT_BATCH - 1):
        check_v3_mapped(operator, out[i], "email_hash", hashes[i], t0, t1)


# ------------------------------------------------------------------ v2 through the SDK

def v2_sdk(op):
    c = op.mapper or op.dev
    return IdentityMapClient(op.base_url, c.api_key, c.secret_b64)


@pytest.mark.parametrize("kind,make,values,bad", [
    ("email", IdentityMapInput.from_emails, ["Map.User@Example.com", "v2.user@example.org"], "optout@example.com"),
    ("phone", IdentityMapInput.from_phones, ["+14155550199", "+447700900111"], "+00000000000"),
    ("email_hash", IdentityMapInput.from_hashed_emails, [h("hashed.v2@example.com")], h("optout@example.com")),
    ("phone_hash", IdentityMapInput.from_hashed_phones, [h("+14155550197")], h("+00000000000")),
], ids=["emails", "phones", "email-hashes", "phone-hashes"])
def test_v2_sdk_maps(operator, kind, make, values, bad):
    op = operator
    t0 = now_ms()
    resp = v2_sdk(op).generate_identity_map(make(values + [bad]))
    t1 = now_ms()
    assert resp.is_success(), resp.status
    for value in values:
        assert value in resp.mapped_identities, (value, {k: v.get_reason() for k, v in
                                                         resp.unmapped_identities.items()})
        m = resp.mapped_identities[value]
        e = expected(op, kind, value, t0, t1)[1]
        assert m.get_raw_uid() == e["u"], f"{value!r}: {m.get_raw_uid()} != derived {e['u']}"
        assert m.get_bucket_id() == e["bucket_id"], f"{value!r}: bucket {m.get_bucket_id()} != {e['bucket_id']}"
    assert resp.unmapped_identities[bad].get_reason() == "optout"
    assert len(resp.mapped_identities) == len(values)


def test_v2_sdk_invalid_hash_is_unmapped(operator):
    resp = v2_sdk(operator).generate_identity_map(IdentityMapInput.from_hashed_emails(["bad-hash",
                                                                                       h("ok.v2@example.com")]))
    assert resp.unmapped_identities["bad-hash"].get_reason() == "invalid identifier"
    assert h("ok.v2@example.com") in resp.mapped_identities


# ------------------------------------------------------------------ v2 raw

def test_v2_raw_body_shape_and_order(operator):
    op = operator
    values = ["Map.User@Example.com", "not-an-email", "b.user@example.com", "optout@example.com", "a.user@example.com"]
    t0 = now_ms()
    r, resp = v2(op, {"email": values})
    t1 = now_ms()
    assert r.status == 200, str(r)
    body = resp["body"]
    assert set(body) == {"mapped", "unmapped"}, body
    ok = [v for v in values if v not in ("not-an-email", "optout@example.com")]
    assert [m["identifier"] for m in body["mapped"]] == ok, "mapped must echo the inputs verbatim, in input order"
    for m, value in zip(body["mapped"], ok):
        assert set(m) == {"identifier", "advertising_id", "bucket_id"}, m
        e = expected(op, "email", value, t0, t1)[1]
        assert m["advertising_id"] == e["u"] and m["bucket_id"] == e["bucket_id"], (m, e["u"], e["bucket_id"])
    assert body["unmapped"] == [{"identifier": "not-an-email", "reason": "invalid identifier"},
                                {"identifier": "optout@example.com", "reason": "optout"}]


def test_v2_raw_all_mapped_has_no_unmapped_key(operator):
    r, resp = v2(operator, {"phone": ["+14155550133"], "foo": "ignored"})
    assert r.status == 200, str(r)
    assert set(resp["body"]) == {"mapped"}, resp["body"]


def test_v2_bucket_id_is_hashids_of_the_entry_id(operator):
    op = operator
    r, resp = v2(op, {"email_hash": [h("bucket.id@example.com")]})
    assert r.status == 200, str(r)
    e = expected(op, "email_hash", h("bucket.id@example.com"), now_ms(), now_ms())[1]
    got = resp["body"]["mapped"][0]["bucket_id"]
    assert got.startswith(op.salts.id_prefix)
    assert got == derive.bucket_id_text(op.salts.id_prefix, op.salts.id_secret, e["entry"]["id"]), \
        f"bucket_id {got} != Hashids(id_secret, 9).encode({e['entry']['id']})"


@pytest.mark.parametrize("payload,message", [
    ({"email": "a@example.com"}, "email must be an array"),
    ({"phone_hash": "x"}, "phone_hash must be an array"),
    ({}, MISSING_V2), (None, MISSING_V2),
    ({"email": ["a@example.com"], "phone": ["+14155550100"]}, MISSING_V2),
], ids=["email-string", "phone_hash-string", "empty", "no-payload", "two-types"])
def test_v2_validation(operator, payload, message):
    r, _ = v2(operator, payload)
    client_error(r, message)


def test_v2_empty_arrays(operator):
    r, resp = v2(operator, {"email": [], "phone": []})
    assert r.status == 200, str(r)
    assert resp["body"] == {"mapped": []}
    r, resp = v2(operator, {"email": [], "phone": ["+14155550144"]})
    assert r.status == 200, str(r)
    assert [m["identifier"] for m in resp["body"]["mapped"]] == ["+14155550144"]


@pytest.mark.parametrize("payload", [{"email": ["a@example.com", None]}, {"email": [12345]},
                                     {"email": [["nested@example.com"]]}], ids=["null", "number", "list"])
def test_v2_bad_elements_are_not_500(operator, payload):
    """The reference answers 500; docs/DECISIONS.md#bad-input-is-a-400 forbids that. Accepted: a 400 client_error, or
    a 200 where the bad element is unmapped as "invalid identifier" and the good one is mapped."""
    r, resp = v2(operator, payload)
    if r.status == 200:
        body = resp["body"]
        assert [u["reason"] for u in body.get("unmapped", [])] == ["invalid identifier"], body
        assert [m["identifier"] for m in body["mapped"]] == [e for e in payload["email"] if isinstance(e, str)]
    else:
        assert_json_error(r, 400, status_string="client_error")


def test_v2_default_batch_limit(operator):
    hashes = [h(f"v2batch{i}@example.com") for i in range(DEFAULT_BATCH + 1)]
    r, _ = v2(operator, {"email_hash": hashes})
    assert_json_error(r, 400, status_string="client_error", message_prefix=TOO_LARGE)


# ------------------------------------------------------------------ configurable limits (serve flags)

def test_identity_map_limit_flag_counts_all_types(limits_operator):
    op, n = limits_operator, LIMITS["identity_map"]
    assert n == 3
    r, resp = v3(op, {"email": ["l1@example.com", "l2@example.com"], "phone": ["+14155550155"]})
    assert r.status == 200, f"{n} identifiers (limit {n}) must pass: {r}"
    r, _ = v3(op, {"email": ["l1@example.com", "l2@example.com"], "phone": ["+14155550155", "+14155550156"]})
    assert_json_error(r, 400, status_string="client_error", message_prefix=TOO_LARGE)
    r, _ = v2(op, {"email": [f"l{i}@example.com" for i in range(n)]})
    assert r.status == 200, str(r)
    r, _ = v2(op, {"email": [f"l{i}@example.com" for i in range(n + 1)]})
    assert_json_error(r, 400, status_string="client_error", message_prefix=TOO_LARGE)


# ------------------------------------------------------------------ /v2/identity/buckets

def buckets(op, payload, client=None, **kw):
    return v2_call(op, BUCKETS, payload, client=client or op.mapper or op.dev, **kw)


def store_last_updated(op):
    from wire import db_rows
    return db_rows(op.db_path, "SELECT MIN(last_updated) AS lo, MAX(last_updated) AS hi FROM salt_buckets")[0]


def test_buckets_all_since_before_first_start(operator):
    """Every bucket (1,048,576 entries, ~95 MB of response): run on the UID2 server only, to keep runtime down."""
    op = operator
    if op.scope != "uid2":
        pytest.skip("the full bucket list is checked once, on the UID2 server (same code path for EUID)")
    r, resp = buckets(op, {"since_timestamp": "2000-01-01T00:00:00"}, timeout=600, slow=True)
    assert r.status == 200, str(r)
    body = resp["body"]
    assert isinstance(body, list)
    assert len(body) == derive.FULL_BUCKET_COUNT, f"{len(body)} buckets, expected every one of the snapshot"
    by_id = {}
    for b in body:
        by_id[b["bucket_id"]] = b
    assert len(by_id) == derive.FULL_BUCKET_COUNT, "bucket ids are not unique"
    rng = random.Random(7)
    for pos in [0, 1, derive.FULL_BUCKET_COUNT - 1] + [rng.randrange(derive.FULL_BUCKET_COUNT) for _ in range(40)]:
        entry = op.salts.bucket(pos)
        bid = derive.bucket_id_text(op.salts.id_prefix, op.salts.id_secret, entry["id"])
        assert bid in by_id, f"bucket {entry['id']} (position {pos}) missing as {bid}"
        assert by_id[bid] == {"bucket_id": bid, "last_updated": derive.iso_local_ms(entry["last_updated"])}, \
            by_id[bid]


def test_buckets_since_after_last_update_is_empty(operator):
    op = operator
    hi = store_last_updated(op)["hi"]
    r, resp = buckets(op, {"since_timestamp": derive.iso_local_ms(hi + 1)})
    assert r.status == 200, str(r)
    assert resp["body"] == []


def test_buckets_since_is_inclusive(limits_operator):
    """last_updated >= since: the exact millisecond of the last update returns every bucket updated then."""
    from wire import db_rows
    op = limits_operator
    hi = store_last_updated(op)["hi"]
    expected = db_rows(op.db_path, f"SELECT COUNT(*) AS n FROM salt_buckets WHERE last_updated >= {int(hi)}")[0]["n"]
    r, resp = buckets(op, {"since_timestamp": derive.iso_local_ms(hi)}, timeout=600, slow=True)
    assert r.status == 200, str(r)
    assert expected > 0 and len(resp["body"]) == expected, \
        f"since == last_updated must include the buckets (>=): got {len(resp['body'])} of {expected}"


@pytest.mark.parametrize("since", ["2999-01-01T00:00", "2999-01-01T00:00:00", "2999-01-01T00:00:00.123456"])
def test_buckets_future_is_empty(operator, since):
    r, resp = buckets(operator, {"since_timestamp": since})
    assert r.status == 200, str(r)
    assert resp == {"status": "success", "body": []}


def test_buckets_through_the_sdk(operator):
    c = operator.mapper or operator.dev
    resp = IdentityMapClient(operator.base_url, c.api_key, c.secret_b64).get_identity_buckets(
        dt.datetime.now(tz=dt.timezone.utc) + dt.timedelta(days=1))
    assert resp.is_success() and resp.buckets == []


@pytest.mark.parametrize("payload", [{}, None, {"since": "2020-01-01T00:00:00"}], ids=["empty", "none", "other-key"])
def test_buckets_missing_since(operator, payload):
    r, _ = buckets(operator, payload)
    client_error(r, "missing parameter since_timestamp")


@pytest.mark.parametrize("since", ["garbage", "2024-13-01T00:00:00", "2024-01-01 00:00:00", ""])
def test_buckets_bad_date(operator, since):
    r, _ = buckets(operator, {"since_timestamp": since})
    client_error(r, "invalid date, must conform to ISO 8601")


@pytest.mark.parametrize("since", [1700000000, None, ["2020-01-01T00:00:00"]], ids=["int", "null", "list"])
def test_buckets_non_string_is_400(operator, since):
    r, _ = buckets(operator, {"since_timestamp": since})
    body = assert_json_error(r, 400, status_string="client_error")
    assert body["message"] in ("invalid date, must conform to ISO 8601", "missing parameter since_timestamp"), body


def test_buckets_needs_mapper(operator):
    other = operator.other_site
    if other is None:
        pytest.fail(f"no GENERATOR-only client of another site: {operator.other_site_error}")
    r, _ = buckets(operator, {"since_timestamp": "2999-01-01T00:00:00"}, client=other)
    assert_json_error(r, 401, {"status": "unauthorized"})
