"""POST /v2/token/client-generate (docs/PROTOCOL.md#client-side-generate) with the suite's own client (cstg.py,
written from the JavaScript SDK's protocol): browser style (Origin header) and mobile style (app_name), tokens checked
down to the raw UID and privacy bits 3, refreshed through /v2/token/refresh, decrypted by the SDK's BidstreamClient;
and every documented error."""

import base64
import json

import pytest
from uid2_client import BidstreamClient
from uid2_client.decryption_status import DecryptionStatus

import cstg
import derive
from checks import assert_4xx_not_500, assert_json_error, check_identity, client_error
from derive import b64
from operator_proc import SITE_999_APPS
from wire import _decrypt_gcm, http, now_ms, parse_ad_token

ORIGIN = "https://www.example.com"
SIX = {"advertising_token", "refresh_token", "identity_expires", "refresh_expires", "refresh_from",
       "refresh_response_key"}
BAD_ORIGIN = {"status": "invalid_http_origin", "message": "unexpected http origin"}
BAD_APP = {"status": "invalid_app_name", "message": "unexpected app name"}
REQUIRED = "required parameters: payload, iv, public_key"
EXACTLY_ONE = "please provide exactly one of: email_hash, phone_hash"


def h(text: str) -> str:
    return b64(derive.sha256(text))


def post(op, body, origin=ORIGIN, content_type="text/plain;charset=UTF-8"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if content_type:
        headers["Content-Type"] = content_type
    if origin:
        headers["Origin"] = origin
    return http("POST", op.url(cstg.PATH), data, headers)


def generate(op, identity: dict, keypair=None, origin=ORIGIN, app_name=None, **req_kw):
    kp = keypair or op.need("keypair")
    box = cstg.CstgBox(kp.public_key)
    req = box.request(kp.subscription_id, identity, app_name=app_name, **req_kw)
    return box, post(op, req, origin=None if app_name is not None and origin == ORIGIN else origin,
                     content_type="application/json" if app_name is not None else "text/plain;charset=UTF-8")


def decrypted(box, r) -> dict:
    assert r.status == 200, str(r)
    try:
        return box.decrypt_response(r.body)
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"response is not base64(IV ‖ AES-GCM under the ECDH secret): {e!r}; {r}")


def success_body(box, r) -> dict:
    resp = decrypted(box, r)
    assert resp.get("status") == "success" and set(resp) == {"status", "body"}, resp
    assert set(resp["body"]) == SIX, sorted(resp["body"])
    return resp["body"]


# ------------------------------------------------------------------ keypair

def test_keypair_published_shape(operator):
    kp = operator.need("keypair")
    prefix = ("EUID" if operator.scope == "euid" else "UID2") + "-X-T-"
    assert kp.public_key.startswith(prefix), f"public key {kp.public_key[:12]}… must start with {prefix}"
    key = cstg.load_public_key(kp.public_key)
    assert key.curve.name == "secp256r1"
    assert isinstance(kp.subscription_id, str) and len(kp.subscription_id) == 10, kp.subscription_id
    assert kp.site_id == 999


# ------------------------------------------------------------------ success paths

@pytest.mark.parametrize("kind,value", [("email_hash", h("cstg.user@example.com")),
                                        ("phone_hash", h("+14155550166")),
                                        ("email_hash", derive.sha256("cstg.hex@example.com").hex())],
                         ids=["email-hash", "phone-hash", "email-hash-hex"])
def test_browser_generate(operator, keys, kind, value):
    op = operator
    t0 = now_ms()
    box, r = generate(op, {kind: value})
    t1 = now_ms()
    body = success_body(box, r)
    got = check_identity(op, keys, body, kind, value, t0, t1, site_id=999, privacy_bits=3)
    assert got["ad"]["privacy_bits"] == 3


@pytest.mark.parametrize("origin", ["http://example.org:8080", "https://a.b.EXAMPLE.com/some/page.html",
                                    "http://localhost:3000", "https://example.com"])
def test_browser_origins_accepted(operator, origin):
    box, r = generate(operator, {"email_hash": h("origin.ok@example.com")}, origin=origin)
    assert success_body(box, r)


@pytest.mark.parametrize("app_name", SITE_999_APPS + ["COM.Example.APP"])
def test_mobile_generate(operator, keys, app_name):
    op = operator
    value = h("mobile.user@example.com")
    t0 = now_ms()
    box, r = generate(op, {"email_hash": value}, app_name=app_name)
    t1 = now_ms()
    check_identity(op, keys, success_body(box, r), "email_hash", value, t0, t1, site_id=999, privacy_bits=3)


def test_mobile_generate_for_another_site(operator, keys):
    """The token's site is the keypair's site (an app-only site with its own default keyset)."""
    op = operator
    kp = op.need("mobile_keypair")
    value = h("+14155550188")
    t0 = now_ms()
    box, r = generate(op, {"phone_hash": value}, keypair=kp, app_name="com.three.app")
    t1 = now_ms()
    body = success_body(box, r)
    check_identity(op, keys, body, "phone_hash", value, t0, t1, site_id=kp.site_id, privacy_bits=3)


def test_timestamp_is_only_bound_not_checked(operator):
    box, r = generate(operator, {"email_hash": h("old.ts@example.com")}, timestamp=now_ms() - 86_400_000)
    assert success_body(box, r)


def test_refresh_of_client_side_token(operator, keys):
    op = operator
    value = h("cstg.refresh@example.com")
    box, r = generate(op, {"email_hash": value})
    first = success_body(box, r)
    established = parse_ad_token(keys, first["advertising_token"])["established_ms"]
    t0 = now_ms()
    rr = http("POST", op.url("/v2/token/refresh"), first["refresh_token"].encode(), {"Origin": ORIGIN})
    t1 = now_ms()
    assert rr.status == 200, str(rr)
    resp = json.loads(_decrypt_gcm(base64.b64decode(rr.body), base64.b64decode(first["refresh_response_key"])))
    assert resp["status"] == "success", resp
    check_identity(op, keys, resp["body"], "email_hash", value, t0, t1, established_ms=established, site_id=999,
                   privacy_bits=3)


def test_bidstream_client_decrypts_client_side_token(operator):
    op = operator
    value = h("cstg.dsp@example.com")
    box, r = generate(op, {"email_hash": value})
    token = success_body(box, r)["advertising_token"]
    reader = op.need("id_reader")
    bc = BidstreamClient(op.base_url, reader.api_key, reader.secret_b64)
    assert bc.refresh().success
    d = bc.decrypt_token_into_raw_uid(token, "www.example.com")
    assert d.status == DecryptionStatus.SUCCESS, d.status
    assert d.uid == b64(op.salts.derive("email_hash", value, op.scope, op.identity_v3).raw_uid)
    assert d.site_id == 999


@pytest.mark.parametrize("identity", [{"email_hash": h("optout@example.com")}, {"phone_hash": h("+00000000000")}],
                         ids=["email", "phone"])
def test_optout_identities(operator, identity):
    box, r = generate(operator, identity)
    assert decrypted(box, r) == {"status": "optout"}


def test_refresh_optout_identity_generates(operator):
    box, r = generate(operator, {"email_hash": h("refresh-optout@example.com")})
    assert success_body(box, r)


# ------------------------------------------------------------------ origin / app checks

@pytest.mark.parametrize("origin", ["https://example.net", "https://notexample.com", "https://example.com.evil.net",
                                    "https://dsp-site.net", "example.com", None],
                         ids=["other-tld", "suffix-lookalike", "prefix-lookalike", "other-sites-domain", "no-scheme",
                              "no-origin"])
def test_bad_origin(operator, origin):
    _, r = generate(operator, {"email_hash": h("a@example.com")}, origin=origin)
    assert_json_error(r, 403, BAD_ORIGIN)


def test_app_only_site_rejects_browser_origin(operator):
    _, r = generate(operator, {"email_hash": h("a@example.com")}, keypair=operator.need("mobile_keypair"))
    assert_json_error(r, 403, BAD_ORIGIN)


@pytest.mark.parametrize("app_name", ["com.example", "com.other.app", "", "example.com", "com.three.app"])
def test_bad_app_name(operator, app_name):
    _, r = generate(operator, {"email_hash": h("a@example.com")}, app_name=app_name)
    assert_json_error(r, 403, BAD_APP)


# ------------------------------------------------------------------ request errors

def valid_request(op, identity=None, **kw):
    kp = op.need("keypair")
    box = cstg.CstgBox(kp.public_key)
    identity = {"email_hash": h("errors@example.com")} if identity is None else identity
    return box, box.request(kp.subscription_id, identity, **kw)


def test_unknown_subscription(operator):
    _, req = valid_request(operator)
    req["subscription_id"] = "NoSuchSub1"
    client_error(post(operator, req), "bad subscription_id")


def test_tampered_payload(operator):
    _, req = valid_request(operator)
    ct = bytearray(base64.b64decode(req["payload"]))
    ct[3] ^= 0x01
    req["payload"] = base64.b64encode(bytes(ct)).decode()
    client_error(post(operator, req), "payload decryption failed")


def test_timestamp_is_bound_through_aad(operator):
    _, req = valid_request(operator)
    req["timestamp"] += 1
    client_error(post(operator, req), "payload decryption failed")


def test_app_name_is_bound_through_aad(operator):
    _, req = valid_request(operator)  # encrypted with AAD [timestamp]
    req["app_name"] = SITE_999_APPS[0]
    client_error(post(operator, req, origin=None, content_type="application/json"), "payload decryption failed")


def test_wrong_server_key(operator):
    from cryptography.hazmat.primitives.asymmetric import ec
    other = cstg.spki_b64(ec.generate_private_key(ec.SECP256R1()).public_key())
    box = cstg.CstgBox(other)
    req = box.request(operator.need("keypair").subscription_id, {"email_hash": h("errors@example.com")})
    client_error(post(operator, req), "payload decryption failed")


@pytest.mark.parametrize("field", ["payload", "iv", "public_key"])
def test_missing_field(operator, field):
    _, req = valid_request(operator)
    del req[field]
    client_error(post(operator, req), REQUIRED)


@pytest.mark.parametrize("iv", [base64.b64encode(bytes(16)).decode(), base64.b64encode(bytes(11)).decode(),
                                "not base64!!"], ids=["16-bytes", "11-bytes", "not-base64"])
def test_bad_iv(operator, iv):
    _, req = valid_request(operator)
    req["iv"] = iv
    client_error(post(operator, req), "bad iv")


@pytest.mark.parametrize("key", ["AAAA", base64.b64encode(b"x" * 91).decode(), "not base64!!"],
                         ids=["short", "garbage-91", "not-base64"])
def test_bad_public_key(operator, key):
    _, req = valid_request(operator)
    req["public_key"] = key
    client_error(post(operator, req), "bad public key")


@pytest.mark.parametrize("identity", [{"email_hash": h("a@example.com"), "phone_hash": h("+14155550100")},
                                      {"email": "a@example.com"}, {}], ids=["both", "raw-email", "none"])
def test_exactly_one_hash(operator, identity):
    _, req = valid_request(operator, identity)
    client_error(post(operator, req), EXACTLY_ONE)


def test_encrypted_payload_not_json(operator):
    kp = operator.need("keypair")
    box = cstg.CstgBox(kp.public_key)
    req = box.request(kp.subscription_id, b"this is not json")
    client_error(post(operator, req), "encrypted payload contains invalid json")


@pytest.mark.parametrize("value", ["bad-hash", "", h("x@example.com")[:-1]], ids=["garbage", "empty", "43-chars"])
def test_invalid_hash(operator, value):
    _, req = valid_request(operator, {"email_hash": value})
    client_error(post(operator, req), "Invalid Identifier")


def test_body_not_json(operator):
    client_error(post(operator, b"this is not json"), "json payload is not valid")


def test_body_empty(operator):
    client_error(post(operator, b""), "json payload expected but not found")


@pytest.mark.parametrize("mutate", [
    lambda q: q.update(extra="field"),
    lambda q: q.update(timestamp="abc"),
    lambda q: q.update(iv=12),
    lambda q: q.update(subscription_id=12345),
    lambda q: q.update(payload=None),
    lambda q: q.update(public_key={"x": 1}),
    lambda q: q.update(app_name=7),
    lambda q: q.clear() or q.update(x=[1]),
], ids=["unknown-field", "timestamp-string", "iv-number", "subscription-number", "payload-null",
        "public-key-object", "app-name-number", "unrelated-object"])
def test_malformed_requests_are_4xx_not_500(operator, mutate):
    _, req = valid_request(operator)
    mutate(req)
    assert_4xx_not_500(post(operator, req))


@pytest.mark.parametrize("body", [b"[1,2,3]", b"42", b"null", b'"text"'], ids=["array", "number", "null", "string"])
def test_json_but_not_an_object(operator, body):
    assert_4xx_not_500(post(operator, body))
