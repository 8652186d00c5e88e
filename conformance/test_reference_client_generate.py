"""POST /v2/token/client-generate: the input -> answer facts pinned by the reference operator's endpoint tests and
its origin-check tests (REFERENCE_CASES.md), restated against this operator's launch data: site 999 registers the
domains example.org, example.com and localhost and the app names com.example.app and 123456789 (operator_proc.py),
where the reference's tests register cstg.co.uk, cstg2.com, localhost and com.123.Game.App.android, 123456789."""

import pytest

import cstg
import derive
from checks import assert_json_error, client_error, v2_call
from derive import b64
from test_client_side import decrypted, generate, post, success_body, valid_request
from test_refresh import decrypt_refresh, post_refresh
from wire import now_ms, parse_ad_token

BAD_ORIGIN = {"status": "invalid_http_origin", "message": "unexpected http origin"}
BAD_APP = {"status": "invalid_app_name", "message": "unexpected app name"}
EXACTLY_ONE = "please provide exactly one of: email_hash, phone_hash"


def h(text: str) -> str:
    return b64(derive.sha256(text))


# ------------------------------------------------------------------ origins and app names

@pytest.mark.parametrize("origin", [
    "https://example.com", "http://example.com", "https://abc.example.com:8080", "https://abc.example.com:8080/",
    "https://abc.eXampLe.com:8080/", "https://abc.exAmple.com:8080/blahh/a.html", "http://example.org",
    "http://localhost", "https://localhost:8080/", "https://abc.localhost:8080", "https://abc.locaLHost:8080/",
    "https://abc.localhost:8080/blahh/a.html", "http://localhost:8080",
])
def test_origin_of_a_registered_domain_passes(operator, origin):
    """client-generate: any scheme, port, path, letter case or subdomain of a registered domain (localhost
    included) is accepted."""
    box, r = generate(operator, {"email_hash": h("random@unifiedid.com")}, origin=origin)
    assert success_body(box, r)


@pytest.mark.parametrize("origin", [
    "https://blahblah.com", "http://local1host:8080", "example.com", "example.com:999999", "abc:example.com",
    "/:$2231example.com", "/:$2231example.com/23423/sfs.html", "http://boohoo.id.au", "https://blah12.com",
    "http://123.boohoo.id.au", "https://456.blah12.com", "http://gototest.com",
])
def test_origin_not_registered_or_malformed_is_403(operator, origin):
    """client-generate: unregistered domains and malformed origins answer 403 invalid_http_origin."""
    _, r = generate(operator, {"email_hash": h("random@unifiedid.com")}, origin=origin)
    assert_json_error(r, 403, BAD_ORIGIN)


@pytest.mark.parametrize("app_name", ["com.example.app", "COM.EXAMPLE.APP", "123456789"])
def test_app_name_registered_passes(operator, app_name):
    """client-generate: a registered app name, in any letter case, is accepted without an Origin."""
    box, r = generate(operator, {"email_hash": h("random@unifiedid.com")}, app_name=app_name)
    assert success_body(box, r)


@pytest.mark.parametrize("app_name", ["", "com.example", "com.", "badAppName"], ids=["empty", "prefix", "dot", "other"])
def test_app_name_not_registered_is_403(operator, app_name):
    """client-generate: an empty, prefix-only or otherwise unregistered app name answers 403 invalid_app_name."""
    _, r = generate(operator, {"email_hash": h("random@unifiedid.com")}, app_name=app_name)
    assert_json_error(r, 403, BAD_APP)


# ------------------------------------------------------------------ request errors

def test_no_identity_in_payload(operator):
    """client-generate: an encrypted payload naming no identity asks for exactly one hash."""
    _, req = valid_request(operator, {})
    client_error(post(operator, req), EXACTLY_ONE)


def test_email_and_phone_hash_together(operator):
    """client-generate: both hashes at once ask for exactly one."""
    _, req = valid_request(operator, {"email_hash": h("random@unifiedid.com"), "phone_hash": h("+10001110000")})
    client_error(post(operator, req), EXACTLY_ONE)


def test_no_body(operator):
    """client-generate: no body answers "json payload expected but not found"."""
    client_error(post(operator, b""), "json payload expected but not found")


def test_body_not_json(operator):
    """client-generate: a body that is not JSON is a 400 client_error."""
    r = post(operator, b"not a valid json payload", content_type="application/json")
    assert_json_error(r, 400, status_string="client_error")


@pytest.mark.parametrize("field", ["payload", "iv", "public_key"])
def test_missing_required_field(operator, field):
    """client-generate: payload, iv and public_key are required."""
    _, req = valid_request(operator)
    del req[field]
    client_error(post(operator, req), "required parameters: payload, iv, public_key")


@pytest.mark.parametrize("which", ["bad-key", "api-key"])
def test_bad_public_key(operator, which):
    """client-generate: a public key that is not a P-256 key (also an API key pasted there) is "bad public key"."""
    _, req = valid_request(operator)
    req["public_key"] = "bad-key" if which == "bad-key" else operator.dev.api_key
    client_error(post(operator, req), "bad public key")


@pytest.mark.parametrize("which", ["bad", "api-key"])
def test_bad_subscription_id(operator, which):
    """client-generate: an unknown subscription id (also an API key pasted there) is "bad subscription_id"."""
    _, req = valid_request(operator)
    req["subscription_id"] = "bad" if which == "bad" else operator.dev.api_key
    client_error(post(operator, req), "bad subscription_id")


@pytest.mark.parametrize("iv", ["............", "aa"], ids=["not-base64", "wrong-length"])
def test_bad_iv(operator, iv):
    """client-generate: an iv that is not base64 of 12 bytes is "bad iv"."""
    _, req = valid_request(operator)
    req["iv"] = iv
    client_error(post(operator, req), "bad iv")


def test_payload_not_encrypted(operator):
    """client-generate: a payload that does not decrypt answers "payload decryption failed"."""
    _, req = valid_request(operator)
    req["payload"] = "not-encrypted"
    client_error(post(operator, req), "payload decryption failed")


def test_encrypted_payload_not_json(operator):
    """client-generate: a payload that decrypts to non-JSON answers "encrypted payload contains invalid json"."""
    kp = operator.need("keypair")
    box = cstg.CstgBox(kp.public_key)
    client_error(post(operator, box.request(kp.subscription_id, b"not-json")),
                 "encrypted payload contains invalid json")


@pytest.mark.parametrize("kind,raw", [("email_hash", "random@unifiedid.com"), ("phone_hash", "1234567890")])
def test_hash_of_64_bytes_is_invalid_identifier(operator, kind, raw):
    """client-generate: two hashes glued together are not a hash: 400 "Invalid Identifier"."""
    _, req = valid_request(operator, {kind: h(raw) + h(raw)})
    client_error(post(operator, req), "Invalid Identifier")


# ------------------------------------------------------------------ opt-out and refresh

@pytest.mark.parametrize("kind,value", [("email_hash", "optout@example.com"), ("phone_hash", "+00000000000")])
def test_opted_out_identity_answers_optout(operator, kind, value):
    """client-generate: an opted-out identity answers 200 with the encrypted {"status": "optout"}."""
    box, r = generate(operator, {kind: h(value)})
    assert decrypted(box, r) == {"status": "optout"}


@pytest.mark.parametrize("kind,value", [("email_hash", "abc@abc.com"), ("phone_hash", "+61400000000")])
def test_client_side_tokens_refresh_as_client_side_tokens(operator, keys, kind, value):
    """client-generate: the tokens carry the client-side flag, and so do the ones a refresh issues."""
    op = operator
    box, r = generate(op, {kind: h(value)})
    body = success_body(box, r)
    assert parse_ad_token(keys, body["advertising_token"])["privacy_bits"] == 3
    r = post_refresh(op, body["refresh_token"])
    assert r.status == 200, str(r)
    resp = decrypt_refresh(r, body["refresh_response_key"])
    assert resp["status"] == "success", resp
    assert parse_ad_token(keys, resp["body"]["advertising_token"])["privacy_bits"] == 3


def test_user_opts_out_after_client_side_generate(operator):
    """client-generate: after the user opts out, refreshing the client-side token answers optout."""
    op = operator
    email = f"cstg.then.optout.{op.scope}.{now_ms()}@example.com"
    box, r = generate(op, {"email_hash": h(email)})
    body = success_body(box, r)
    r, resp = v2_call(op, "/v2/token/logout", {"email": email})
    assert r.status == 200, str(r)
    r = post_refresh(op, body["refresh_token"])
    assert r.status == 200, str(r)
    assert decrypt_refresh(r, body["refresh_response_key"]) == {"status": "optout"}
