"""Shared assertions: what a token response must look like, inside and out."""

import base64
import re

from uid2_client import AdvertisingTokenVersion, IdentityType

import derive
from derive import b64
from operator_proc import Client, Operator
from wire import (active_key_id, bearer, db_rows, http, now_ms, open_refresh_envelope, open_response,
                  parse_ad_token, sdk_decrypt, seal)

BINARY = "application/octet-stream"
CLOCK_TOLERANCE_MS = 3000
B64URL = re.compile(r"[A-Za-z0-9_-]+")
B64STD = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def v2_call(op: Operator, path: str, payload, client: Client = None, content_type: str = None, timeout=60,
            slow=False, **seal_kw):
    """Send one enveloped request. Returns (Response, decrypted JSON or None when not HTTP 200).
    slow: the response timestamp may be anywhere within the request's duration (large responses)."""
    client = client or op.dev
    env, nonce = seal(client.secret, payload, **seal_kw)
    headers = bearer(client.api_key)
    if content_type:
        headers["Content-Type"] = content_type
    t0 = now_ms()
    r = http("POST", op.url(path), env if content_type == BINARY else base64.b64encode(env), headers, timeout=timeout)
    if r.status != 200:
        return r, None
    encrypted = r.body if content_type == BINARY else base64.b64decode(r.body, validate=True)
    return r, open_response(client.secret, encrypted, nonce, window=(t0, now_ms()) if slow else None)


def type_byte(scope: str, id_type: str) -> int:
    return (derive.SCOPES[scope] << 4) | (derive.TYPES[id_type] << 2) | 3


def expected_site_key_id(op: Operator, site_id: int, at_s: float) -> int:
    """docs/PROTOCOL.md#key-selection: the site's enabled default keyset, else the fallback keyset of site 2."""
    for sid in (site_id, 2):
        ks = db_rows(op.db_path, "SELECT keyset_id FROM keysets WHERE site_id = ? AND enabled = 1 AND is_default = 1",
                     (sid,))
        assert len(ks) <= 1, f"site {sid} has several enabled default keysets"
        if ks and (kid := active_key_id(op.db_path, ks[0]["keyset_id"], at_s)) is not None:
            return kid
    raise AssertionError(f"no active key for site {site_id} nor the fallback site 2")


def b64url_len(n_bytes: int) -> int:
    return (n_bytes * 4 + 2) // 3


def check_identity(op: Operator, keys, body: dict, kind: str, value: str, t0: int, t1: int,
                   established_ms: int = None, site_id: int = None, privacy_bits: int = 1) -> dict:
    """Assert everything checkable about a token-bearing body issued in [t0, t1] (epoch ms).

    body: the JSON body with the six fields. established_ms: the original identity's value (refresh), or None
    (generate: must lie within [t0, t1]). site_id: the publisher site (default: the dev client's site).
    privacy_bits: 1 for /v2/token/generate, 3 for client-side generation (docs/PROTOCOL.md#privacy-bits).
    Returns the decoded advertising and refresh token details."""
    site_id = op.dev.site_id if site_id is None else site_id
    assert set(body) >= {"advertising_token", "refresh_token", "identity_expires", "refresh_expires",
                         "refresh_from", "refresh_response_key"}, body
    expected = op.salts.derive(kind, value, op.scope, op.identity_v3)
    id_type = derive.identity_type_of(kind)
    tb = type_byte(op.scope, id_type)
    ident_s, refresh_s, from_s = op.lifetimes

    # ---- outer shapes
    at = body["advertising_token"]
    assert B64URL.fullmatch(at), f"advertising token is not unpadded base64url: {at!r}"
    assert at[:2] == {0x03: "A4", 0x07: "B4", 0x13: "E4", 0x17: "F4"}[tb], at[:2]
    assert len(at) == b64url_len(131 + len(expected.raw_uid)), len(at)
    rt = body["refresh_token"]
    assert len(rt) == 388 and B64STD.fullmatch(rt), f"refresh_token must be 388 chars of base64: {rt!r}"
    rrk = body["refresh_response_key"]
    assert len(rrk) == 44 and len(base64.b64decode(rrk, validate=True)) == 32, rrk

    # ---- lifetimes: epoch milliseconds, relative to wall clock and to each other
    for name in ("identity_expires", "refresh_expires", "refresh_from"):
        assert type(body[name]) is int, f"{name} must be an integer, got {body[name]!r}"
    for name, secs in (("identity_expires", ident_s), ("refresh_expires", refresh_s), ("refresh_from", from_s)):
        lo, hi = t0 + secs * 1000 - CLOCK_TOLERANCE_MS, t1 + secs * 1000 + CLOCK_TOLERANCE_MS
        assert lo <= body[name] <= hi, f"{name}={body[name]} not ms ≈ now+{secs}s (window [{lo}, {hi}])"
    assert body["refresh_from"] <= body["identity_expires"] <= body["refresh_expires"]
    assert body["refresh_expires"] - body["identity_expires"] == (refresh_s - ident_s) * 1000
    assert body["identity_expires"] - body["refresh_from"] == (ident_s - from_s) * 1000

    # ---- advertising token through the SDK
    d = sdk_decrypt(keys, at)
    assert d.uid == b64(expected.raw_uid), f"raw UID {d.uid} != independently derived {b64(expected.raw_uid)}"
    assert d.identity_type == (IdentityType.Phone if id_type == "phone" else IdentityType.Email)
    assert d.advertising_token_version == AdvertisingTokenVersion.ADVERTISING_TOKEN_V4
    assert d.site_id == site_id
    assert round(d.expiry.timestamp() * 1000) == body["identity_expires"]

    # ---- advertising token fields the SDK does not expose
    t = parse_ad_token(keys, at)
    now_s = t1 / 1000
    assert (t["type_byte"], t["version"]) == (tb, 0x80)
    assert t["master_key_id"] == active_key_id(op.db_path, -1, now_s)
    assert t["site_key_id"] == expected_site_key_id(op, site_id, now_s)
    assert t0 <= t["created_ms"] <= t1, (t0, t["created_ms"], t1)
    assert t["refreshed_ms"] == t["created_ms"]
    assert t["expires_ms"] - t["created_ms"] == ident_s * 1000
    assert (t["operator_site_id"], t["operator_type"], t["publisher_id"], t["client_key_id"]) == (0, 1, 0, 0)
    assert t["privacy_bits"] == privacy_bits, f"privacy bits {t['privacy_bits']} != {privacy_bits}"
    if established_ms is None:
        assert t0 <= t["established_ms"] <= t1
    else:
        assert t["established_ms"] == established_ms, "established changed across refresh"
    assert round(d.established.timestamp() * 1000) == t["established_ms"]

    # ---- refresh envelope and the V3 refresh token inside
    r = open_refresh_envelope(op.db_path, rt)
    assert r["scope_byte"] == derive.SCOPES[op.scope] << 4
    assert r["envelope_key_id"] == r["token_key_id"] == active_key_id(op.db_path, -2, now_s)
    assert set(r["inner"]) == {"refresh_response_key", "refresh_token"}
    assert r["inner"]["refresh_response_key"] == rrk
    assert len(r["token_text"]) == 168 and (r["token_type_byte"], r["token_version"]) == (tb, 0x70)
    assert r["payload_len"] == 90
    assert r["created_ms"] == t["created_ms"]
    assert r["expires_ms"] == body["refresh_expires"] == r["created_ms"] + refresh_s * 1000
    assert r["operator"] == bytes(4) + b"\x01" + bytes(8)
    assert (r["site_id"], r["publisher_id"], r["client_key_id"]) == (site_id, 0, 0)
    assert r["privacy_bits"] == privacy_bits and r["established_ms"] == t["established_ms"]
    assert r["payload_type_byte"] == tb
    assert r["flh"] == expected.first_level_hash
    return {"ad": t, "sdk": d, "refresh": r, "derived": expected}


def assert_json_error(r, status: int, expected: dict = None, status_string: str = None, message_prefix: str = None):
    """An error answer: given HTTP status, plain JSON (never encrypted), body exactly `expected` when given, else
    `status` field == status_string and message starting with message_prefix."""
    assert r.status == status, str(r)
    assert r.content_type.split(";")[0].strip().lower() == "application/json", f"{r.content_type!r}: {r}"
    body = r.json()
    if expected is not None:
        assert body == expected, body
    if status_string is not None:
        assert body.get("status") == status_string, body
    if message_prefix is not None:
        assert str(body.get("message", "")).startswith(message_prefix), body
    return body


def client_error(r, message: str):
    return assert_json_error(r, 400, {"status": "client_error", "message": message})


def assert_4xx_not_500(r):
    """docs/DECISIONS.md#bad-input-is-a-400: malformed input is answered with a 4xx and a JSON status, never a 500."""
    assert 400 <= r.status < 500, str(r)
    assert r.content_type.split(";")[0].strip().lower() == "application/json", f"{r.content_type!r}: {r}"
    assert isinstance(r.json().get("status"), str), r.json()
