"""POST /v2/identity/map and /v2/identity/buckets: the input -> answer facts pinned by the reference operator's
endpoint tests and the Python SDK's integration tests (REFERENCE_CASES.md), restated against this operator."""

import base64
import datetime as dt
import re
from urllib.error import HTTPError

import pytest
from uid2_client import IdentityMapClient, IdentityMapInput

import derive
from checks import BINARY, client_error, v2_call
from derive import b64
from test_identity_map import expected
from wire import bearer, http, now_ms, open_response, post_large, seal

V2 = "/v2/identity/map"
BUCKETS = "/v2/identity/buckets"
MISSING = "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"
ONE_MIB = 1024 * 1024


def h(text: str) -> str:
    return b64(derive.sha256(text))


def mapper(op):
    return op.mapper or op.dev


def v2(op, payload, **kw):
    return v2_call(op, V2, payload, client=mapper(op), **kw)


def sdk(op, api_key=None, secret=None):
    c = mapper(op)
    return IdentityMapClient(op.base_url, api_key or c.api_key, secret or c.secret_b64)


def check_mapped(op, body, kind, identifiers, t0, t1):
    """`mapped` lists exactly `identifiers`, in order, each with the derived raw UID and its bucket id."""
    assert [m["identifier"] for m in body["mapped"]] == identifiers, body
    for m, value in zip(body["mapped"], identifiers):
        e = expected(op, kind, value, t0, t1)[1]
        assert m["advertising_id"] == e["u"], (value, m, e["u"])
        assert m["bucket_id"] == e["bucket_id"] and m["bucket_id"], (value, m)


# ------------------------------------------------------------------ empty, null and conflicting inputs

@pytest.mark.parametrize("payload", [
    {"email": []}, {"phone": []}, {"email": [], "email_hash": []}, {"phone": [], "phone_hash": []},
    {"email": [], "email_hash": [], "phone": [], "phone_hash": []}, {"email": [], "email_hash": None},
], ids=["email", "phone", "email-and-hash", "phone-and-hash", "all-four", "empty-and-null"])
def test_v2_empty_arrays_answer_an_empty_mapping(operator, payload):
    """v2 map: empty arrays (also alongside a null one) answer 200 with an empty `mapped` and no `unmapped`."""
    r, resp = v2(operator, payload)
    assert r.status == 200, str(r)
    assert resp == {"status": "success", "body": {"mapped": []}}, resp


@pytest.mark.parametrize("payload", [None, {}, {"email_hash": None}, {"email": None, "phone": None}],
                         ids=["no-body", "empty-object", "null-array", "two-null-arrays"])
def test_v2_nothing_given_is_400(operator, payload):
    """v2 map: no kind given (a null array counts as not given) is a missing parameter."""
    client_error(v2(operator, payload)[0], MISSING)


@pytest.mark.parametrize("payload", [
    {"email": ["test1@uid2.com"], "email_hash": [h("test2@uid2.com")]},
    {"phone": ["+15555555555"], "phone_hash": [h("+15555555555")]},
], ids=["email-and-hash", "phone-and-hash"])
def test_v2_two_non_empty_kinds_are_400(operator, payload):
    """v2 map: exactly one kind may carry identifiers."""
    client_error(v2(operator, payload)[0], MISSING)


@pytest.mark.parametrize("kind,value", [("email", "test@example.com"), ("email_hash", "test@example.com"),
                                        ("phone", "555-555-5555"), ("phone_hash", "555-555-5555")])
def test_v2_single_string_instead_of_array_is_400(operator, kind, value):
    """v2 map: a kind given as a string names the field that must be an array."""
    client_error(v2(operator, {kind: value})[0], f"{kind} must be an array")


# ------------------------------------------------------------------ batches

@pytest.mark.parametrize("kind,values", [
    ("email", ["test1@uid2.com", "test2@uid2.com"]),
    ("email_hash", [h("test1@uid2.com"), h("test2@uid2.com")]),
    ("phone", ["+15555555555", "+15555555556"]),
    ("phone_hash", [h("+15555555555"), h("+15555555556")]),
])
def test_v2_batch_maps_every_identifier_in_order(operator, kind, values):
    """v2 map: a batch of one kind maps each identifier, echoed verbatim, with its raw UID and bucket id."""
    t0 = now_ms()
    r, resp = v2(operator, {kind: values})
    t1 = now_ms()
    assert r.status == 200, str(r)
    assert set(resp["body"]) == {"mapped"}, resp["body"]
    check_mapped(operator, resp["body"], kind, values, t0, t1)


@pytest.mark.parametrize("kind,values", [("email", ["test1@uid2.com", "bogus", "test2@uid2.com"]),
                                         ("phone", ["+15555555555", "bogus", "+15555555556"])])
def test_v2_one_invalid_identifier_is_unmapped_and_the_rest_map(operator, kind, values):
    """v2 map: an invalid identifier in a batch is unmapped as "invalid identifier"; the others still map."""
    t0 = now_ms()
    r, resp = v2(operator, {kind: values})
    t1 = now_ms()
    assert r.status == 200, str(r)
    check_mapped(operator, resp["body"], kind, [values[0], values[2]], t0, t1)
    assert resp["body"]["unmapped"] == [{"identifier": "bogus", "reason": "invalid identifier"}]


@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
def test_v2_opted_out_identity_is_unmapped_optout(operator, content_type):
    """v2 map: an opted-out identity answers in `unmapped` with reason "optout" and nothing mapped."""
    r, resp = v2(operator, {"email": ["optout@example.com"]}, content_type=content_type)
    assert r.status == 200, str(r)
    body = resp["body"]
    assert body.get("mapped", []) == []
    assert body["unmapped"] == [{"identifier": "optout@example.com", "reason": "optout"}]


def test_v2_base64_envelope_sent_as_octet_stream_is_read_as_text(operator):
    """v2 map: a base64 envelope labelled application/octet-stream still succeeds, answered as text/plain."""
    c = mapper(operator)
    env, nonce = seal(c.secret, {"email": ["test1@uid2.com"]})
    r = http("POST", operator.url(V2), base64.b64encode(env), {**bearer(c.api_key), "Content-Type": BINARY})
    assert r.status == 200, str(r)
    assert r.content_type.split(";")[0].strip() == "text/plain", r.content_type
    assert open_response(c.secret, base64.b64decode(r.body), nonce)["status"] == "success"


@pytest.mark.parametrize("value", ["test@uid2.com", "+15555555555"], ids=["emails", "phones"])
def test_v2_body_over_the_size_limit_is_413(operator, value):
    """v2 map: a request body over 1 MiB is refused with 413 before it is read."""
    kind = "phone" if value.startswith("+") else "email"
    c = mapper(operator)
    payload = {kind: [value] * (ONE_MIB // len(value) + 1)}
    env, _ = seal(c.secret, payload)
    body = base64.b64encode(env)
    assert len(body) > ONE_MIB
    r = post_large(operator.host, operator.port, V2, body, bearer(c.api_key))
    assert r.status == 413, str(r)


# ------------------------------------------------------------------ through the SDK's IdentityMapClient

def assert_mapped(resp, dii):
    assert dii in resp.mapped_identities and dii not in resp.unmapped_identities, dii
    m = resp.mapped_identities[dii]
    assert m.get_raw_uid() and m.get_bucket_id()


def assert_unmapped(resp, reason, dii):
    assert dii in resp.unmapped_identities and dii not in resp.mapped_identities, dii
    assert resp.unmapped_identities[dii].get_reason() == reason


def test_v2_sdk_emails_phones_and_hashes(operator):
    """v2 map (SDK): ordinary identities map; the opt-out test identities are unmapped with "optout"."""
    c = sdk(operator)
    resp = c.generate_identity_map(IdentityMapInput.from_emails(
        ["hopefully-not-opted-out@example.com", "somethingelse@example.com", "optout@example.com"]))
    assert_mapped(resp, "hopefully-not-opted-out@example.com")
    assert_mapped(resp, "somethingelse@example.com")
    assert_unmapped(resp, "optout", "optout@example.com")
    resp = c.generate_identity_map(IdentityMapInput.from_emails(["optout@example.com"]))
    assert len(resp.mapped_identities) == 0
    assert_unmapped(resp, "optout", "optout@example.com")
    resp = c.generate_identity_map(IdentityMapInput.from_phones(["+12345678901", "+98765432109", "+00000000000"]))
    assert_mapped(resp, "+12345678901")
    assert_mapped(resp, "+98765432109")
    assert_unmapped(resp, "optout", "+00000000000")
    hashes = [h("+12345678901"), h("+98765432109"), h("+00000000000")]
    resp = c.generate_identity_map(IdentityMapInput.from_hashed_phones(hashes))
    assert_mapped(resp, hashes[0])
    assert_mapped(resp, hashes[1])
    assert_unmapped(resp, "optout", hashes[2])


def test_v2_sdk_invalid_hash_duplicates_and_empty_input(operator):
    """v2 map (SDK): a non-hash is unmapped as "invalid identifier"; gmail spellings share one raw UID;
    an empty input maps nothing."""
    c = sdk(operator)
    resp = c.generate_identity_map(IdentityMapInput.from_hashed_emails(["this is not a hashed email"]))
    assert_unmapped(resp, "invalid identifier", "this is not a hashed email")
    emails = ["JANE.SAOIRSE@gmail.com", "Jane.Saoirse@gmail.com", "JaneSaoirse+UID2@gmail.com",
              "janesaoirse@gmail.com", "JANE.SAOIRSE@gmail.com"]
    resp = c.generate_identity_map(IdentityMapInput.from_emails(emails))
    assert len(resp.mapped_identities) == 4
    assert len({resp.mapped_identities[e].get_raw_uid() for e in emails}) == 1
    ok, out = h("hopefully-not-opted-out@example.com"), h("optout@example.com")
    resp = c.generate_identity_map(IdentityMapInput.from_hashed_emails([ok, ok, out, out]))
    assert_mapped(resp, ok)
    assert_unmapped(resp, "optout", out)
    resp = c.generate_identity_map(IdentityMapInput.from_emails([]))
    assert resp.is_success()
    assert len(resp.mapped_identities) == 0 and len(resp.unmapped_identities) == 0


@pytest.mark.parametrize("bad", ["api_key", "secret"])
def test_v2_sdk_bad_credentials_raise_http_error(operator, bad):
    """v2 map and buckets (SDK): a wrong API key or secret surfaces as an HTTPError."""
    c = sdk(operator, api_key="bad-api-key") if bad == "api_key" else \
        sdk(operator, secret="wJ0hP19QU4hmpB64Y3fV2dAed8t/mupw3sjN5jNRFzg=")
    with pytest.raises(HTTPError):
        c.generate_identity_map(IdentityMapInput.from_emails(["hopefully-not-opted-out@example.com"]))
    with pytest.raises(HTTPError):
        c.get_identity_buckets(dt.datetime.now())


# ------------------------------------------------------------------ buckets

def test_buckets_last_updated_always_has_milliseconds(operator):
    """buckets: `last_updated` is written with exactly three fraction digits, even on a whole second."""
    # Two days back: seeding spreads last_updated over 30 days, so this lists a fifteenth of the
    # buckets (asking for all million is a 95 MB answer, which says nothing more here).
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
    r, resp = v2_call(operator, BUCKETS, {"since_timestamp": since}, client=mapper(operator))
    assert r.status == 200, str(r)
    buckets = resp["body"]
    assert buckets, "buckets were updated in the last two days"
    pattern = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}")
    bad = [b["last_updated"] for b in buckets[:1000] if not pattern.fullmatch(b["last_updated"])]
    assert not bad, bad[:5]


def test_buckets_sdk_past_is_non_empty_and_future_is_empty(operator):
    """buckets (SDK): 90 days back lists buckets; tomorrow lists none; both succeed."""
    c = sdk(operator)
    resp = c.get_identity_buckets(dt.datetime.now() - dt.timedelta(days=90))
    assert resp.is_success and len(resp.buckets) > 0
    resp = c.get_identity_buckets(dt.datetime.now() + dt.timedelta(days=1))
    assert resp.is_success and len(resp.buckets) == 0
