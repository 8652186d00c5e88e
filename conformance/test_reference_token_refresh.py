"""POST /v2/token/refresh: the input -> answer facts pinned by the reference operator's endpoint and service tests
(REFERENCE_CASES.md), restated against this operator."""

import json
import time

import pytest
from uid2_client import TokenGenerateInput, Uid2PublisherClient

from checks import BINARY, check_identity, v2_call
from operator_proc import run_cli
from ops_support import OPTOUT_BOUND_S, optout_entry, wait_for
from test_refresh import EXPIRED_TOKEN, GENERIC_ERROR, decrypt_refresh, post_refresh
from wire import bearer, http, now_ms, open_refresh_envelope, sdk_key_collection

INVALID_TOKEN_STATUS = "invalid_token"


def generated(op, kind, value):
    t0 = now_ms()
    r, resp = v2_call(op, "/v2/token/generate", {kind: value})
    assert r.status == 200 and resp["status"] == "success", (str(r), resp)
    return resp["body"], t0, now_ms()


def test_refresh_with_no_token_is_invalid_token(operator):
    """refresh: an empty body with an API key answers 400 invalid_token."""
    r = post_refresh(operator, "", operator.dev.api_key)
    assert r.status == 400, str(r)
    assert r.json()["status"] == INVALID_TOKEN_STATUS


@pytest.mark.parametrize("token", ["asdf", "invalidBase64%%%%"])
def test_refresh_with_an_invalid_token_and_api_key_is_invalid_token(operator, token):
    """refresh: garbage with an API key (a browser Origin present) answers 400 invalid_token."""
    r = http("POST", operator.url("/v2/token/refresh"), token.encode(),
             {**bearer(operator.dev.api_key), "Origin": "https://example.com", "Content-Type": "text/plain"})
    assert r.status == 400, str(r)
    assert r.json()["status"] == INVALID_TOKEN_STATUS


def test_refresh_with_an_invalid_token_without_api_key_is_generic_error(operator):
    """refresh: garbage without an API key answers 400 with the generic status "error"."""
    r = post_refresh(operator, "abcd")
    assert r.status == 400, str(r)
    assert r.json()["status"] == "error"


@pytest.mark.parametrize("kind,value,content_type", [
    ("email", "test@uid2.com", None), ("email", "test@uid2.com", BINARY), ("phone", "+15555555555", None),
], ids=["email-text", "email-octet-stream", "phone"])
def test_generate_then_refresh_issues_new_tokens(operator, keys, kind, value, content_type):
    """refresh: a fresh refresh token answers success with new tokens for the same identity, the same site
    and established time, a different refresh token, and the configured lifetimes."""
    op = operator
    body, *_ = generated(op, kind, value)
    established = open_refresh_envelope(op.db_path, body["refresh_token"])["established_ms"]
    t0 = now_ms()
    r = post_refresh(op, body["refresh_token"], op.dev.api_key, content_type=content_type)
    t1 = now_ms()
    assert r.status == 200, str(r)
    resp = decrypt_refresh(r, body["refresh_response_key"], binary=content_type == BINARY)
    assert resp["status"] == "success", resp
    new = resp["body"]
    assert new["refresh_token"] != body["refresh_token"]
    check_identity(op, keys, new, kind, value, t0, t1, established_ms=established)


def test_refresh_after_the_advertising_token_expired_still_succeeds(short_operator):
    """refresh: once the advertising token has expired but the refresh token has not, refresh succeeds."""
    op = short_operator
    pub = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    ident = pub.generate_token(TokenGenerateInput.from_email("expired.ad.token@example.com")).get_identity()
    established = open_refresh_envelope(op.db_path, ident.get_refresh_token())["established_ms"]
    wait_s = (ident.get_identity_expires() - now_ms()) / 1000 + 0.3
    assert 0 < wait_s < (ident.get_refresh_expires() - now_ms()) / 1000, "lifetimes leave no window to test"
    time.sleep(wait_s)
    assert now_ms() > ident.get_identity_expires()
    t0 = now_ms()
    r = post_refresh(op, ident.get_refresh_token(), op.dev.api_key)
    t1 = now_ms()
    assert r.status == 200, str(r)
    resp = decrypt_refresh(r, ident.get_refresh_response_key())
    assert resp["status"] == "success", resp
    check_identity(op, sdk_key_collection(op.db_path, op.scope, op.dev.site_id), resp["body"], "email",
                   "expired.ad.token@example.com", t0, t1, established_ms=established)


def test_refresh_of_an_expired_refresh_token(short_operator):
    """refresh: past refresh_expires, 400 expired_token with an API key and the generic error without one."""
    op = short_operator
    pub = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    ident = pub.generate_token(TokenGenerateInput.from_email("expired.refresh@example.com")).get_identity()
    time.sleep(max(0.0, (ident.get_refresh_expires() - now_ms()) / 1000) + 1.0)
    r = post_refresh(op, ident.get_refresh_token(), op.dev.api_key)
    assert r.status == 400 and r.json() == EXPIRED_TOKEN, str(r)
    r = post_refresh(op, ident.get_refresh_token())
    assert r.status == 400 and r.json() == GENERIC_ERROR, str(r)


@pytest.mark.parametrize("kind", ["email", "phone"])
def test_refresh_after_opt_out_answers_optout(operator, kind):
    """refresh: an identity opted out after its tokens were issued refreshes to 200 {"status": "optout"}."""
    op = operator
    value = f"refresh.then.optout.{op.scope}.{now_ms()}@example.com" if kind == "email" else \
        "+1650" + str(now_ms())[-7:]
    body, *_ = generated(op, kind, value)
    r, resp = v2_call(op, "/v2/token/logout", {kind: value})
    assert r.status == 200 and resp["body"] == {"optout": "OK"}, (str(r), resp)
    r = post_refresh(op, body["refresh_token"], op.dev.api_key)
    assert r.status == 200, str(r)
    assert decrypt_refresh(r, body["refresh_response_key"]) == {"status": "optout"}


def test_refresh_after_an_opt_out_dated_before_the_token_answers_optout(operator, tmp_path):
    """refresh: an opt-out record older than the token's established time still opts the identity out (any
    record counts, as in the reference). The record is imported in the reference's opt-out file format, since
    the API never issues tokens to an identity that is already opted out."""
    op = operator
    email = f"optout.before.login.{op.scope}.{now_ms()}@example.com"
    body, *_ = generated(op, "email", email)
    established_s = open_refresh_envelope(op.db_path, body["refresh_token"])["established_ms"] // 1000
    d = op.salts.derive("email", email, op.scope, op.identity_v3)
    f = tmp_path / "optout-delta-999_2026-01-01T00.00.00Z_0badc0de.dat"
    f.write_bytes(optout_entry(d.first_level_hash, d.raw_uid, established_s - 10))
    run_cli(op.binary, "import", "optout", "--data-dir", str(op.data_dir), str(f))

    def refreshed_to_optout():
        r = post_refresh(op, body["refresh_token"], op.dev.api_key)
        return r.status == 200 and decrypt_refresh(r, body["refresh_response_key"]) == {"status": "optout"}
    wait_for("refresh answers optout after the import", refreshed_to_optout, OPTOUT_BOUND_S + 3)


@pytest.mark.parametrize("kind,value", [("email", "refresh-optout@example.com"), ("phone", "+00000000002")])
def test_refresh_optout_test_identities_opt_out_on_refresh(operator, kind, value):
    """refresh: the refresh-optout test identities generate, then answer optout on refresh."""
    body, *_ = generated(operator, kind, value)
    r = post_refresh(operator, body["refresh_token"], operator.dev.api_key)
    assert r.status == 200, str(r)
    assert decrypt_refresh(r, body["refresh_response_key"]) == {"status": "optout"}


def test_refresh_response_is_json_with_the_six_fields(operator):
    """refresh: the decrypted answer is {"status": "success", "body": {six token fields}}."""
    body, *_ = generated(operator, "email", "six.fields@example.com")
    r = post_refresh(operator, body["refresh_token"], operator.dev.api_key)
    resp = decrypt_refresh(r, body["refresh_response_key"])
    assert set(resp) == {"status", "body"}
    assert set(resp["body"]) == {"advertising_token", "refresh_token", "identity_expires", "refresh_expires",
                                 "refresh_from", "refresh_response_key"}, json.dumps(resp)[:300]
