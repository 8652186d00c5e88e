"""The request envelope and CORS rules shared by the encrypted endpoints: the input -> answer facts pinned by the
reference operator's request-parsing and CORS tests (REFERENCE_CASES.md), restated against this operator."""

import base64
import os

import pytest

from checks import BINARY, v2_call
from wire import DOCS, bearer, http, open_response, seal

GENERATE = "/v2/token/generate"
ORIGIN = "https://example.com"
UNENCRYPTED_JSON = b'{"email_hash": "tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ=", "version": 2}'


def post(op, body: bytes, content_type=None):
    headers = bearer(op.dev.api_key)
    if content_type:
        headers["Content-Type"] = content_type
    return http("POST", op.url(GENERATE), body, headers)


def error_message(r) -> str:
    assert r.status == 400, str(r)
    body = r.json()
    assert body.get("status") == "client_error", body
    return body["message"]


def unencrypted(op) -> str:
    return ("Invalid body: The request body is unencrypted JSON. It must be an encrypted request envelope. "
            f"See {DOCS[op.scope]}#encryption-and-decryption-code-examples for encryption and decryption code "
            "examples.")


def version_error(op, version: int) -> str:
    return (f"Invalid body: Invalid request envelope format version: received {version}, must be 1. "
            f"See {DOCS[op.scope]} for details on the request envelope format.")


@pytest.mark.parametrize("body", [UNENCRYPTED_JSON, b'{"version": 2}'], ids=["long", "short"])
def test_base64_of_unencrypted_json_is_diagnosed(operator, body):
    """envelope: base64 of plain JSON (whatever its length) is named unencrypted JSON, with the scope's docs link."""
    assert error_message(post(operator, base64.b64encode(body))) == unencrypted(operator)


def test_raw_unencrypted_json_is_diagnosed(operator):
    """envelope: plain JSON sent without base64 is named unencrypted JSON."""
    assert error_message(post(operator, UNENCRYPTED_JSON)) == unencrypted(operator)


def test_octet_stream_base64_of_unencrypted_json_is_diagnosed(operator):
    """envelope: base64 of plain JSON labelled application/octet-stream is still named unencrypted JSON."""
    assert error_message(post(operator, base64.b64encode(UNENCRYPTED_JSON), BINARY)) == unencrypted(operator)


def test_octet_stream_corrupted_binary_body_reports_its_version_byte(operator):
    """envelope: a binary body of 64 bytes of 0x02 reports version 2."""
    assert error_message(post(operator, bytes([2]) * 64, BINARY)) == version_error(operator, 2)


def test_octet_stream_base64_of_a_corrupt_envelope_reports_the_decoded_version(operator):
    """envelope: base64 text of a corrupt envelope under octet-stream reports the decoded version byte (2), not
    the first character of the text."""
    assert error_message(post(operator, base64.b64encode(bytes([2]) * 64), BINARY)) == version_error(operator, 2)


def test_octet_stream_base64_envelope_is_answered_as_text(operator):
    """envelope: a valid base64 envelope labelled octet-stream succeeds and is answered as text/plain base64."""
    env, nonce = seal(operator.dev.secret, {"email": "fallback.ref@example.com"})
    r = post(operator, base64.b64encode(env), BINARY)
    assert r.status == 200, str(r)
    assert r.content_type.split(";")[0].strip() == "text/plain", r.content_type
    assert open_response(operator.dev.secret, base64.b64decode(r.body), nonce)["status"] == "success"


def test_payload_that_is_not_json_is_diagnosed(operator):
    """envelope: a well-encrypted payload that is not valid JSON is "Data is not valid json string"."""
    r, _ = v2_call(operator, GENERATE, b'{"token": "x", "email_hash": "y", test}')
    assert error_message(r) == "Invalid payload in body: Data is not valid json string."


def test_envelope_sealed_with_the_wrong_secret(operator):
    """envelope: a well-formed envelope under another secret fails the GCM check: "Check encryption key"."""
    env, _ = seal(os.urandom(32), {"email": "a@example.com"})
    message = error_message(post(operator, base64.b64encode(env)))
    assert message.startswith("Invalid body: Check encryption key (ClientSecret).") and DOCS[operator.scope] in message


# ------------------------------------------------------------------ CORS

@pytest.mark.parametrize("path,authorization", [("/v2/token/validate", True), ("/v2/token/generate", False)])
def test_preflight_allows_authorization_only_on_validate(operator, path, authorization):
    """CORS: a preflight asking for Content-Type and Authorization answers 204, allows Content-Type and the
    client-version header, and Authorization only on /v2/token/validate."""
    r = http("OPTIONS", operator.url(path), None, {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "Content-Type, Authorization"})
    assert r.status == 204, str(r)
    allowed = {v.strip().lower() for v in r.headers.get("access-control-allow-headers", "").split(",")}
    assert "content-type" in allowed and "x-uid2-client-version" in allowed, allowed
    assert ("authorization" in allowed) == authorization, allowed
