"""POST /v2/token/generate through the official SDK, checked down to the raw UID inside the token."""

import datetime as dt
import json

import pytest
from uid2_client import TokenGenerateInput
from uid2_client.request_response_util import auth_headers, create_envelope, make_binary_request, parse_response

import derive
from checks import BINARY, check_identity, v2_call
from derive import b64
from wire import http, now_ms

H_EMAIL = b64(derive.sha256("hashed.user@example.com"))
H_PHONE = b64(derive.sha256("+14155550125"))

# id -> (SDK input, field the operator receives, value the operator receives)
SDK_CASES = {
    "email-raw": (lambda: TokenGenerateInput.from_email("Jane.Doe+news@Example.COM").do_not_hash(),
                  "email", "Jane.Doe+news@Example.COM"),
    "gmail-raw": (lambda: TokenGenerateInput.from_email(" Jane.Doe+news@GMail.Com ").do_not_hash(),
                  "email", " Jane.Doe+news@GMail.Com "),
    "email-space-in-local-part": (lambda: TokenGenerateInput.from_email("ja ne@example.org").do_not_hash(),
                                  "email", "ja ne@example.org"),
    "email-sdk-hashed": (lambda: TokenGenerateInput.from_email("sdk.hashed@example.com"),
                         "email", "sdk.hashed@example.com"),
    "email-hash": (lambda: TokenGenerateInput.from_hashed_email(H_EMAIL), "email_hash", H_EMAIL),
    "phone-raw": (lambda: TokenGenerateInput.from_phone("+14155550123").do_not_hash(), "phone", "+14155550123"),
    "phone-sdk-hashed": (lambda: TokenGenerateInput.from_phone("+14155550124"), "phone", "+14155550124"),
    "phone-hash": (lambda: TokenGenerateInput.from_hashed_phone(H_PHONE), "phone_hash", H_PHONE),
}


@pytest.mark.parametrize("case", list(SDK_CASES))
def test_sdk_generate(operator, publisher, keys, case):
    make_input, kind, value = SDK_CASES[case]
    t0 = now_ms()
    resp = publisher.generate_token(make_input())
    t1 = now_ms()
    assert resp.is_success() and not resp.is_optout(), resp.status
    ident = resp.get_identity()
    body = json.loads(ident.get_json_string())
    check_identity(operator, keys, body, kind, value, t0, t1)
    # the SDK's IdentityTokens getters read the same fields
    assert ident.get_identity_expires() == body["identity_expires"]
    assert ident.get_refresh_from() == body["refresh_from"]


@pytest.mark.parametrize("kind,value", [("email", "Jane.Doe+news@Example.COM"), ("phone", "+14155550123"),
                                        ("email_hash", H_EMAIL), ("phone_hash", H_PHONE)])
def test_identity_derive_cli_matches_independent_derivation(operator, kind, value):
    out = operator.derive_cli(kind, value)
    mine = operator.salts.derive(kind, value, operator.scope, operator.identity_v3)
    assert out == {"identity_hash": b64(mine.identity_hash), "first_level_hash": b64(mine.first_level_hash),
                   "bucket_index": mine.bucket_index, "raw_uid": b64(mine.raw_uid)}


def test_store_salts_shape(operator):
    assert operator.salts.count == derive.FULL_BUCKET_COUNT
    fls = operator.salts.first_level
    assert isinstance(fls, str) and fls
    first, last = operator.salts.bucket(0), operator.salts.bucket(derive.FULL_BUCKET_COUNT - 1)
    for entry in (first, last):
        assert entry["current_salt"] or (entry["current_key"] and entry["current_key_salt"]), entry
    assert first["current_salt"] != last["current_salt"]


def test_hex_hash_input_gives_same_raw_uid(operator, keys):
    hex_hash = derive.sha256("hex.user@example.com").hex().upper()
    t0 = now_ms()
    r, resp = v2_call(operator, "/v2/token/generate", {"email_hash": hex_hash})
    t1 = now_ms()
    assert r.status == 200, str(r)
    assert resp["status"] == "success"
    check_identity(operator, keys, resp["body"], "email", "hex.user@example.com", t0, t1)


def test_text_response_is_base64_text_plain(operator):
    r, resp = v2_call(operator, "/v2/token/generate", {"email": "plain.text@example.com", "policy": 1,
                                                       "optout_check": 1})
    assert r.status == 200, str(r)
    assert r.content_type.split(";")[0].strip().lower() == "text/plain", r.content_type
    assert resp["status"] == "success" and set(resp) == {"status", "body"}


def test_octet_stream_request_gets_binary_response(operator, keys):
    t0 = now_ms()
    r, resp = v2_call(operator, "/v2/token/generate", {"phone": "+447700900123"}, content_type=BINARY)
    t1 = now_ms()
    assert r.status == 200, str(r)
    assert r.content_type.lower() == BINARY, r.content_type
    check_identity(operator, keys, resp["body"], "phone", "+447700900123", t0, t1)


def test_sdk_binary_request_path(operator, keys):
    """The SDK's own binary transport (make_binary_request / parse_response)."""
    secret = operator.dev.secret
    request = json.dumps({"email": "binary.sdk@example.com"}).encode()
    env = create_envelope(secret, dt.datetime.now(tz=dt.timezone.utc), request)
    t0 = now_ms()
    resp = make_binary_request(operator.base_url, "/v2/token/generate", auth_headers(operator.dev.api_key), env)
    t1 = now_ms()
    body = json.loads(parse_response(secret, resp, env.nonce))
    assert body["status"] == "success"
    check_identity(operator, keys, body["body"], "email", "binary.sdk@example.com", t0, t1)


def test_each_generate_issues_fresh_keys_and_tokens(operator, publisher):
    a = publisher.generate_token(TokenGenerateInput.from_email("twice@example.com")).get_identity()
    b = publisher.generate_token(TokenGenerateInput.from_email("twice@example.com")).get_identity()
    assert a.get_refresh_response_key() != b.get_refresh_response_key()
    assert a.get_advertising_token() != b.get_advertising_token()
    assert a.get_refresh_token() != b.get_refresh_token()


def test_healthcheck(operator):
    r = http("GET", operator.url("/ops/healthcheck"))
    assert (r.status, r.body) == (200, b"OK"), str(r)
