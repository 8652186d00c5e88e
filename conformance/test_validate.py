"""POST /v2/token/validate (docs/PROTOCOL.md#token-validate) with hand-built envelopes."""

import pytest
from uid2_client import TokenGenerateInput

import derive
from checks import v2_call
from derive import b64

MISSING = "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"


def token_for(publisher, make_input) -> str:
    resp = publisher.generate_token(make_input)
    assert resp.is_success(), resp.status
    return resp.get_identity().get_advertising_token()


def validate(op, payload, client=None):
    r, resp = v2_call(op, "/v2/token/validate", payload, client=client)
    return r, resp


@pytest.mark.parametrize("make_input,matching,other", [
    (TokenGenerateInput.from_email("validate@example.com"), {"email": "Validate@Example.com"},
     {"email": "someone.else@example.com"}),
    (TokenGenerateInput.from_email("validate@example.com"),
     {"email_hash": b64(derive.sha256("validate@example.com"))}, {"email": "optout@example.com"}),
    (TokenGenerateInput.from_phone("+12345678901"), {"phone": "+12345678901"}, {"phone": "+12345678902"}),
    (TokenGenerateInput.from_email("any.identity@example.com"), {"email": "any.identity@example.com"},
     {"email": "validate@example.com"}),
], ids=["email", "email-hash", "phone", "non-test-identity"])
def test_validate_true_and_false(operator, publisher, make_input, matching, other):
    token = token_for(publisher, make_input)
    r, resp = validate(operator, {"token": token, **matching})
    assert r.status == 200, str(r)
    assert resp == {"status": "success", "body": True}
    r, resp = validate(operator, {"token": token, **other})
    assert r.status == 200, str(r)
    assert resp == {"status": "success", "body": False}


@pytest.mark.parametrize("payload", [{"token": "garbage", "email": "validate@example.com"},
                                     {"token": "A4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "email": "validate@example.com"},
                                     {"email": "validate@example.com"}], ids=["garbage", "bad-v4", "missing"])
def test_validate_undecodable_token(operator, payload):
    r, _ = validate(operator, payload)
    assert r.status == 400, str(r)
    assert r.json() == {"status": "client_error", "message": "Invalid token"}


def test_validate_requires_identity(operator, publisher):
    token = token_for(publisher, TokenGenerateInput.from_email("validate@example.com"))
    r, _ = validate(operator, {"token": token})
    assert r.status == 400, str(r)
    assert r.json() == {"status": "client_error", "message": MISSING}
    r, _ = validate(operator, {"token": token, "email": "not-an-email"})
    assert r.status == 400, str(r)
    assert r.json() == {"status": "client_error", "message": "Invalid Identifier"}


def test_validate_needs_generator_role(operator, publisher):
    token = token_for(publisher, TokenGenerateInput.from_email("validate@example.com"))
    r, _ = validate(operator, {"token": token, "email": "validate@example.com"}, client=operator.mapper)
    assert r.status == 401, str(r)
    assert r.json() == {"status": "unauthorized"}


def test_validate_token_of_another_site(operator, publisher):
    if operator.other_site is None:
        pytest.fail(f"could not create a client for a second site: {operator.other_site_error}")
    token = token_for(publisher, TokenGenerateInput.from_email("validate@example.com"))
    r, _ = validate(operator, {"token": token, "email": "validate@example.com"}, client=operator.other_site)
    assert r.status == 400, str(r)
    assert r.json() == {"status": "client_error", "message": "Unauthorised to validate token"}
