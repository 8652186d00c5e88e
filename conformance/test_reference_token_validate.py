"""POST /v2/token/validate: the input -> answer facts pinned by the reference operator's endpoint tests
(REFERENCE_CASES.md), restated against this operator."""

import pytest

import derive
from checks import BINARY, assert_json_error, v2_call
from derive import b64

VALIDATE = "/v2/token/validate"
MISSING = "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"


def token_for(op, kind, value):
    r, resp = v2_call(op, "/v2/token/generate", {kind: value})
    assert r.status == 200 and resp["status"] == "success", (str(r), resp)
    return resp["body"]["advertising_token"]


def validate(op, payload, **kw):
    return v2_call(op, VALIDATE, payload, **kw)


@pytest.mark.parametrize("kind,value,check", [
    ("email", "validate@example.com", {"email": "validate@example.com"}),
    ("email", "validate@example.com", {"email_hash": b64(derive.sha256("validate@example.com"))}),
    ("phone", "+12345678901", {"phone": "+12345678901"}),
    ("phone", "+12345678901", {"phone_hash": b64(derive.sha256("+12345678901"))}),
], ids=["email", "email-hash", "phone", "phone-hash"])
def test_validate_matching_identity_is_true(operator, kind, value, check):
    """validate: the validate test identity, raw or hashed, against its own token answers body true."""
    r, resp = validate(operator, {"token": token_for(operator, kind, value), **check})
    assert r.status == 200, str(r)
    assert resp == {"status": "success", "body": True}


@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
def test_validate_email_against_a_phone_token_is_false(operator, content_type):
    """validate: the validate email against the validate phone's token answers body false."""
    token = token_for(operator, "phone", "+12345678901")
    r, resp = validate(operator, {"token": token, "email": "validate@example.com"}, content_type=content_type)
    assert r.status == 200, str(r)
    assert resp == {"status": "success", "body": False}


@pytest.mark.parametrize("kind,value,extra", [
    ("email", "validate@example.com", {"email": "validate@example.com", "email_hash": "validate@example.com"}),
    ("phone", "+12345678901", {"phone": "+12345678901",
                               "phone_hash": b64(derive.sha256("validate@example.com"))}),
], ids=["email-and-hash", "phone-and-hash"])
def test_validate_with_two_identities_is_400(operator, kind, value, extra):
    """validate: an identity given twice (raw and hashed) is a 400 client_error."""
    r, _ = validate(operator, {"token": token_for(operator, kind, value), **extra})
    assert_json_error(r, 400, {"status": "client_error", "message": MISSING})


def test_validate_with_an_undecodable_token_is_400(operator):
    """validate: a token that does not decode answers 400 "Invalid token"."""
    r, _ = validate(operator, {"token": "abcdef", "email_hash": b64(derive.sha256("validate@example.com"))})
    assert_json_error(r, 400, {"status": "client_error", "message": "Invalid token"})


def test_validate_token_of_another_site_is_400(operator):
    """validate: a site may only validate tokens issued to itself."""
    other = operator.need("other_site")
    token = token_for(operator, "email", "validate@example.com")
    r, _ = validate(operator, {"token": token, "email": "validate@example.com"}, client=other)
    assert_json_error(r, 400, {"status": "client_error", "message": "Unauthorised to validate token"})
