"""POST /v2/token/refresh: SDK refresh chains, unauthenticated refresh, test identities, tampering, expiry."""

import base64
import json
import time

import pytest
from uid2_client import TokenGenerateInput

from checks import BINARY, check_identity, v2_call
from wire import (_decrypt_gcm, bearer, http, now_ms, open_refresh_envelope, reseal_refresh_envelope)

INVALID_TOKEN = {"status": "invalid_token", "message": "Invalid Token presented"}
EXPIRED_TOKEN = {"status": "expired_token", "message": "Expired Token presented"}
GENERIC_ERROR = {"status": "error", "message": "Error refreshing token"}


def post_refresh(op, text, api_key=None, content_type=None):
    headers = bearer(api_key) if api_key else {}
    if content_type:
        headers["Content-Type"] = content_type
    return http("POST", op.url("/v2/token/refresh"), text.encode() if isinstance(text, str) else text, headers)


def decrypt_refresh(resp, refresh_response_key: str, binary=False) -> dict:
    data = resp.body if binary else base64.b64decode(resp.body, validate=True)
    return json.loads(_decrypt_gcm(data, base64.b64decode(refresh_response_key)))


def generate(op, publisher, email):
    t0 = now_ms()
    ident = publisher.generate_token(TokenGenerateInput.from_email(email)).get_identity()
    assert ident is not None, f"generate for {email} gave no identity"
    return ident, t0, now_ms()


def test_sdk_refresh_chain(operator, publisher, keys):
    email = "chain.user@example.com"
    ident, t0, t1 = generate(operator, publisher, email)
    first = check_identity(operator, keys, json.loads(ident.get_json_string()), "email", email, t0, t1)
    established = first["ad"]["established_ms"]
    seen_keys = {ident.get_refresh_response_key()}
    prev = ident
    for _ in range(4):
        time.sleep(0.02)
        t0 = now_ms()
        resp = publisher.refresh_token(prev)
        t1 = now_ms()
        assert resp.is_success() and not resp.is_optout(), resp.status
        cur = resp.get_identity()
        got = check_identity(operator, keys, json.loads(cur.get_json_string()), "email", email, t0, t1,
                             established_ms=established)
        assert got["sdk"].uid == first["sdk"].uid
        assert cur.get_identity_expires() > prev.get_identity_expires()
        assert cur.get_refresh_expires() > prev.get_refresh_expires()
        assert cur.get_refresh_response_key() not in seen_keys
        seen_keys.add(cur.get_refresh_response_key())
        prev = cur


def test_refresh_without_api_key(operator, publisher, keys):
    """Browsers (the JS SDK) never send an API key."""
    ident, *_ = generate(operator, publisher, "browser.user@example.com")
    t0 = now_ms()
    r = post_refresh(operator, ident.get_refresh_token())
    t1 = now_ms()
    assert r.status == 200, str(r)
    assert r.content_type.split(";")[0].strip().lower() == "text/plain", r.content_type
    resp = decrypt_refresh(r, ident.get_refresh_response_key())
    assert resp["status"] == "success"
    check_identity(operator, keys, resp["body"], "email", "browser.user@example.com", t0, t1,
                   established_ms=open_refresh_envelope(operator.db_path, ident.get_refresh_token())["established_ms"])


def test_refresh_with_unknown_api_key_still_works(operator, publisher):
    """Optional auth: an unknown key is 'unauthenticated', not 401."""
    ident, *_ = generate(operator, publisher, "unknown.key@example.com")
    r = post_refresh(operator, ident.get_refresh_token(), api_key="UID2-C-L-1-abcdef.notAKeyThatExists0000000000000000000")
    assert r.status == 200, str(r)
    assert decrypt_refresh(r, ident.get_refresh_response_key())["status"] == "success"


def test_refresh_octet_stream_gets_binary_response(operator, publisher):
    ident, *_ = generate(operator, publisher, "binary.refresh@example.com")
    r = post_refresh(operator, ident.get_refresh_token(), operator.dev.api_key, content_type=BINARY)
    assert r.status == 200, str(r)
    assert r.content_type.lower() == BINARY, r.content_type
    assert decrypt_refresh(r, ident.get_refresh_response_key(), binary=True)["status"] == "success"


def test_bare_refresh_token_answers_in_clear(operator, publisher, keys):
    """docs/PROTOCOL.md#token-refresh: a body that is not 388 chars is a bare refresh token; the answer is plain JSON."""
    email = "bare.token@example.com"
    ident, *_ = generate(operator, publisher, email)
    opened = open_refresh_envelope(operator.db_path, ident.get_refresh_token())
    t0 = now_ms()
    r = post_refresh(operator, opened["token_text"], operator.dev.api_key)
    t1 = now_ms()
    assert r.status == 200, str(r)
    assert r.content_type.split(";")[0].strip().lower() == "application/json", r.content_type
    resp = r.json()
    assert resp["status"] == "success"
    check_identity(operator, keys, resp["body"], "email", email, t0, t1, established_ms=opened["established_ms"])


# ------------------------------------------------------------------ test identities (docs/PROTOCOL.md#test-identities)

@pytest.mark.parametrize("make_input", [
    lambda: TokenGenerateInput.from_email("optout@example.com"),
    lambda: TokenGenerateInput.from_email("OptOut@Example.com").do_not_hash(),
    lambda: TokenGenerateInput.from_phone("+00000000000"),
    lambda: TokenGenerateInput.from_phone("+00000000000").do_not_hash(),
], ids=["email-hashed", "email-raw", "phone-hashed", "phone-raw"])
def test_optout_identities_opt_out_on_generate(publisher, make_input):
    resp = publisher.generate_token(make_input())
    assert resp.is_optout() and not resp.is_success(), resp.status
    assert resp.get_identity() is None


@pytest.mark.parametrize("field,value", [("email", "optout@example.com"), ("phone", "+00000000000")])
def test_optout_response_has_no_body(operator, field, value):
    r, resp = v2_call(operator, "/v2/token/generate", {field: value})
    assert r.status == 200, str(r)
    assert resp == {"status": "optout"}


@pytest.mark.parametrize("kind,value", [("email", "refresh-optout@example.com"), ("phone", "+00000000002")])
def test_refresh_optout_identities(operator, publisher, keys, kind, value):
    make = TokenGenerateInput.from_email if kind == "email" else TokenGenerateInput.from_phone
    t0 = now_ms()
    gen = publisher.generate_token(make(value))
    t1 = now_ms()
    assert gen.is_success(), gen.status
    ident = gen.get_identity()
    check_identity(operator, keys, json.loads(ident.get_json_string()), kind, value, t0, t1)
    ref = publisher.refresh_token(ident)
    assert ref.is_optout() and ref.get_identity() is None, ref.status
    r = post_refresh(operator, ident.get_refresh_token())  # unauthenticated: same answer
    assert r.status == 200, str(r)
    assert decrypt_refresh(r, ident.get_refresh_response_key()) == {"status": "optout"}


@pytest.mark.parametrize("kind,value", [("email", "validate@example.com"), ("phone", "+12345678901")])
def test_never_opted_out_identities(operator, publisher, keys, kind, value):
    make = TokenGenerateInput.from_email if kind == "email" else TokenGenerateInput.from_phone
    t0 = now_ms()
    ident = publisher.generate_token(make(value)).get_identity()
    t1 = now_ms()
    first = check_identity(operator, keys, json.loads(ident.get_json_string()), kind, value, t0, t1)
    for _ in range(2):
        t0 = now_ms()
        ref = publisher.refresh_token(ident)
        t1 = now_ms()
        assert ref.is_success(), ref.status
        ident = ref.get_identity()
        check_identity(operator, keys, json.loads(ident.get_json_string()), kind, value, t0, t1,
                       established_ms=first["ad"]["established_ms"])


# ------------------------------------------------------------------ malformed / tampered refresh input

def flip_char(text: str, i: int) -> str:
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]


@pytest.mark.parametrize("authenticated", [True, False], ids=["with-key", "without-key"])
def test_tampered_refresh_envelope_is_400(operator, publisher, authenticated):
    ident, *_ = generate(operator, publisher, "tamper.user@example.com")
    bad = flip_char(ident.get_refresh_token(), 194)
    r = post_refresh(operator, bad, operator.dev.api_key if authenticated else None)
    assert r.status == 400, str(r)
    assert r.json() == {"status": "client_error", "message": "Invalid data: Check encryption method and encryption key."}


def test_refresh_envelope_with_unknown_key_id(operator, publisher):
    ident, *_ = generate(operator, publisher, "unknown.keyid@example.com")
    env = bytearray(base64.b64decode(ident.get_refresh_token()))
    env[1:5] = (0x7FFFFFF0).to_bytes(4, "big")
    r = post_refresh(operator, base64.b64encode(bytes(env)).decode(), operator.dev.api_key)
    assert r.status == 400, str(r)
    assert r.json() == {"status": "client_error",
                        "message": "Invalid key: Generator of this token (Key ID: 2147483632) does not exist."}


def test_refresh_envelope_not_base64(operator):
    r = post_refresh(operator, "!" * 388, operator.dev.api_key)
    assert r.status == 400, str(r)
    assert r.json() == {"status": "client_error", "message": "Invalid body: Body is not valid base64."}


def test_refresh_envelope_inner_json_missing_field(operator, publisher):
    ident, *_ = generate(operator, publisher, "inner.missing@example.com")
    opened = open_refresh_envelope(operator.db_path, ident.get_refresh_token())
    # same length as the real inner JSON, so the envelope stays 388 chars
    inner = {"refresh_response_key": opened["inner"]["refresh_response_key"], "refresh_tokex": opened["token_text"]}
    r = post_refresh(operator, reseal_refresh_envelope(operator.db_path, opened, inner), operator.dev.api_key)
    assert r.status == 400, str(r)
    assert r.json() == {"status": "client_error",
                        "message": "Invalid format: Payload is not valid json or missing required data."}


@pytest.mark.parametrize("authenticated", [True, False], ids=["with-key", "without-key"])
def test_tampered_inner_refresh_token_is_400_not_500(operator, publisher, authenticated):
    """docs/DECISIONS.md#bad-input-is-a-400: a V3 refresh token failing GCM authentication is invalid, never a 500."""
    ident, *_ = generate(operator, publisher, "inner.tamper@example.com")
    opened = open_refresh_envelope(operator.db_path, ident.get_refresh_token())
    tok = bytearray(opened["token_bytes"])
    tok[60] ^= 0x01  # inside the AES-GCM ciphertext
    inner = dict(opened["inner"], refresh_token=base64.b64encode(bytes(tok)).decode())
    resealed = reseal_refresh_envelope(operator.db_path, opened, inner)
    assert len(resealed) == 388
    r = post_refresh(operator, resealed, operator.dev.api_key if authenticated else None)
    assert r.status == 400, str(r)
    assert r.json() == (INVALID_TOKEN if authenticated else GENERIC_ERROR)


@pytest.mark.parametrize("body", ["garbage-refresh-token", "", "AAAA", "A" * 168],
                         ids=["garbage", "empty", "short-b64", "zero-token"])
def test_garbage_bare_refresh_token(operator, body):
    r = post_refresh(operator, body, operator.dev.api_key)
    assert r.status == 400, str(r)
    assert r.json() == INVALID_TOKEN
    r = post_refresh(operator, body)
    assert r.status == 400, str(r)
    assert r.json() == GENERIC_ERROR


# ------------------------------------------------------------------ expiry (short-lived server)

def test_short_lifetimes_are_honoured(short_operator):
    from uid2_client import Uid2PublisherClient
    from wire import sdk_key_collection
    op = short_operator
    pub = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    t0 = now_ms()
    ident = pub.generate_token(TokenGenerateInput.from_email("short.user@example.com")).get_identity()
    t1 = now_ms()
    check_identity(op, sdk_key_collection(op.db_path, op.scope, op.dev.site_id),
                   json.loads(ident.get_json_string()), "email", "short.user@example.com", t0, t1)


def test_expired_refresh_token(short_operator):
    from uid2_client import Uid2PublisherClient
    op = short_operator
    pub = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    ident = pub.generate_token(TokenGenerateInput.from_email("expiring.user@example.com")).get_identity()
    opened = open_refresh_envelope(op.db_path, ident.get_refresh_token())
    wait_s = (ident.get_refresh_expires() - now_ms()) / 1000 + 1.5
    assert 0 < wait_s < 10, f"refresh_expires {ident.get_refresh_expires()} is not ~3 s ahead in ms"
    time.sleep(wait_s)
    for text in (ident.get_refresh_token(), opened["token_text"]):  # envelope and bare token
        r = post_refresh(op, text, op.dev.api_key)
        assert r.status == 400, str(r)
        assert r.json() == EXPIRED_TOKEN
        r = post_refresh(op, text)
        assert r.status == 400, str(r)
        assert r.json() == GENERIC_ERROR
