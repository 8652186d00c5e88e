"""Envelope, authentication and input errors on /v2/token/generate with raw HTTP
(docs/PROTOCOL.md#envelope-errors, docs/PROTOCOL.md#error-messages)."""

import base64
import os

import pytest

from checks import BINARY, v2_call
from wire import DOCS, bearer, http, now_ms, open_response, post_large, seal

MISSING = "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"
GENERATE = "/v2/token/generate"


def post_generate(op, body: bytes, api_key=None, content_type=None):
    headers = bearer(api_key or op.dev.api_key)
    if content_type:
        headers["Content-Type"] = content_type
    return http("POST", op.url(GENERATE), body, headers)


def assert_client_error(r, message):
    assert r.status == 400, str(r)
    assert r.content_type.split(";")[0].strip().lower() == "application/json", r.content_type
    assert r.json() == {"status": "client_error", "message": message}


def docs(op):
    return DOCS[op.scope]


def format_msg(op, what):
    return f"Invalid body: {what} See {docs(op)} for details on the request envelope format."


def unencrypted_msg(op):
    return ("Invalid body: The request body is unencrypted JSON. It must be an encrypted request envelope. "
            f"See {docs(op)}#encryption-and-decryption-code-examples for encryption and decryption code examples.")


# ------------------------------------------------------------------ authentication

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer UID2-C-L-1-abcdef.wrongKeyWrongKeyWrongKeyWrongKey0000"},
                                     {"Authorization": "Basic abc"}], ids=["no-header", "unknown-key", "not-bearer"])
def test_unauthorized(operator, headers):
    env, _ = seal(operator.dev.secret, {"email": "a@example.com"})
    r = http("POST", operator.url(GENERATE), base64.b64encode(env), headers)
    assert r.status == 401, str(r)
    assert r.json() == {"status": "unauthorized"}


def test_bearer_prefix_is_case_insensitive(operator):
    env, _ = seal(operator.dev.secret, {"email": "case@example.com"})
    r = http("POST", operator.url(GENERATE), base64.b64encode(env), {"Authorization": "bEaReR " + operator.dev.api_key})
    assert r.status == 200, str(r)


def test_mapper_only_client_cannot_generate(operator):
    r, _ = v2_call(operator, GENERATE, {"email": "a@example.com"}, client=operator.mapper)
    assert r.status == 401, str(r)
    assert r.json() == {"status": "unauthorized"}


# ------------------------------------------------------------------ envelope errors (exact texts)

def test_wrong_secret(operator):
    env, _ = seal(os.urandom(32), {"email": "a@example.com"})
    assert_client_error(post_generate(operator, base64.b64encode(env)),
                        format_msg(operator, "Check encryption key (ClientSecret)."))


def test_body_missing(operator):
    assert_client_error(post_generate(operator, b""), "Invalid body: Body is missing.")


def test_body_not_base64(operator):
    assert_client_error(post_generate(operator, b"this is not base64 !!!"),
                        format_msg(operator, "Body is not valid base64."))


def test_base64_with_newline_is_not_base64(operator):
    env, _ = seal(operator.dev.secret, {"email": "a@example.com"})
    text = base64.b64encode(env)
    assert_client_error(post_generate(operator, text[:40] + b"\n" + text[40:]),
                        format_msg(operator, "Body is not valid base64."))


def test_unencrypted_json(operator):
    assert_client_error(post_generate(operator, b'{"email":"a@example.com"}'), unencrypted_msg(operator))


def test_body_too_short(operator):
    assert_client_error(post_generate(operator, base64.b64encode(b"\x01" + os.urandom(43))),
                        format_msg(operator, "Body too short. Check encryption method."))


@pytest.mark.parametrize("version", [2, 255])
def test_bad_envelope_version(operator, version):
    env, _ = seal(operator.dev.secret, {"email": "a@example.com"}, version=version)
    assert_client_error(post_generate(operator, base64.b64encode(env)),
                        format_msg(operator, f"Invalid request envelope format version: received {version}, must be 1."))


@pytest.mark.parametrize("offset_ms", [-10 * 60_000, 10 * 60_000], ids=["10-min-old", "10-min-ahead"])
def test_timestamp_outside_window(operator, offset_ms):
    r, _ = v2_call(operator, GENERATE, {"email": "a@example.com"}, ts_ms=now_ms() + offset_ms)
    assert_client_error(r, "Invalid timestamp: Request too old or client time drift.")


def test_timestamp_90s_old_is_accepted(operator):
    r, resp = v2_call(operator, GENERATE, {"email": "a@example.com"}, ts_ms=now_ms() - 90_000)
    assert r.status == 200, str(r)
    assert resp["status"] == "success"


@pytest.mark.parametrize("payload", [b"not json", b"[1,2]"], ids=["text", "array"])
def test_payload_not_json_object(operator, payload):
    r, _ = v2_call(operator, GENERATE, payload)
    assert_client_error(r, "Invalid payload in body: Data is not valid json string.")


def test_binary_envelope_with_wrong_secret(operator):
    env, _ = seal(os.urandom(32), {"email": "a@example.com"})
    assert_client_error(post_generate(operator, env, content_type=BINARY),
                        format_msg(operator, "Check encryption key (ClientSecret)."))


def test_octet_stream_with_base64_body_falls_back_to_text(operator):
    """docs/PROTOCOL.md#request-envelope: binary parsing fails, the body is valid base64 -> treated as a text request."""
    env, nonce = seal(operator.dev.secret, {"email": "fallback@example.com"})
    r = post_generate(operator, base64.b64encode(env), content_type=BINARY)
    assert r.status == 200, str(r)
    assert r.content_type.split(";")[0].strip().lower() == "text/plain", r.content_type
    assert open_response(operator.dev.secret, base64.b64decode(r.body), nonce)["status"] == "success"


# ------------------------------------------------------------------ request validation

@pytest.mark.parametrize("payload", [None, {}, {"email": "a@example.com", "phone": "+12345678901"},
                                     {"email": "a@example.com", "email_hash": "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs="},
                                     {"unrelated": "x"}], ids=["no-json", "empty", "email+phone", "email+hash", "other"])
def test_required_parameter_missing(operator, payload):
    r, _ = v2_call(operator, GENERATE, payload)
    assert_client_error(r, MISSING)


@pytest.mark.parametrize("payload", [{"email": "a@ba@z.com"}, {"email": ""}, {"email": "no-at-sign"},
                                     {"phone": "12345678901"}, {"phone": "+1234567890A"}, {"phone": "+1234567890123456"},
                                     {"email_hash": "asdaksjdakfj"}, {"phone_hash": "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs"}],
                         ids=lambda p: f"{next(iter(p))}={next(iter(p.values()))!r}")
def test_invalid_identifier(operator, payload):
    r, _ = v2_call(operator, GENERATE, payload)
    assert_client_error(r, "Invalid Identifier")


@pytest.mark.parametrize("payload", [{"email": 12345}, {"email": None}, {"phone": ["+12345678901"]},
                                     {"email_hash": {"x": 1}}], ids=["int", "null", "list", "object"])
def test_non_string_identity_is_400_not_500(operator, payload):
    """docs/DECISIONS.md#bad-input-is-a-400: malformed input is a 400 client_error, never a 500."""
    r, _ = v2_call(operator, GENERATE, payload)
    assert r.status == 400, str(r)
    assert r.json()["status"] == "client_error"


# ------------------------------------------------------------------ body size limit

def test_body_over_1mib_is_413(operator):
    body = b"A" * (1024 * 1024 + 1)
    r = post_large(operator.host, operator.port, GENERATE, body, bearer(operator.dev.api_key))
    assert (r.status, r.body) == (413, b"Request Entity Too Large"), str(r)


def test_body_of_exactly_1mib_is_not_413(operator):
    raw = b"\x01" + os.urandom(786431)  # base64 -> exactly 1 048 576 chars
    body = base64.b64encode(raw)
    assert len(body) == 1024 * 1024
    r = post_large(operator.host, operator.port, GENERATE, body, bearer(operator.dev.api_key))
    assert_client_error(r, format_msg(operator, "Check encryption key (ClientSecret)."))


def test_over_1mib_without_api_key_is_still_413(operator):
    """Checked before authentication."""
    r = post_large(operator.host, operator.port, GENERATE, b"A" * (1024 * 1024 + 1), {})
    assert r.status == 413, str(r)
