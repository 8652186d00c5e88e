"""The malformed-input matrix: every endpoint × every class of bad input, against the real server, in both scopes.

Each case sends one request and requires (a) an HTTP answer at all, (b) no 5xx, (c) one of the answers listed for
it — the reference's 4xx and status string (PROTOCOL 1.2, 2, 6, 7; DECISIONS.md: bad input is a 400 where the
reference would answer 500), or 200 where the input is in fact acceptable — and (d) the operator process alive
afterwards, checked by pid and by /ops/healthcheck. A case that kills the process restarts it, so the rest of the
matrix still runs. Counts by HTTP status are printed at the end of the session.

Refresh tokens forged under a master or site key downloaded from /v2/key/bidstream or /v2/key/sharing must be
refused; the same forgery under the store's refresh key is the control that proves the forged bytes are otherwise
well-formed.
"""

import base64
import collections
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cstg
from checks import v2_call
from malformed import (ANY_STATUS, INT64_MAX, INT64_MIN, INVALID_TOKEN, OK, REFRESH_CUTOFF_MS, REFRESH_ERROR,
                       TOO_LARGE, UNAUTHORIZED, Expect, NoAnswer, Req, b64, b64url_decode, b64url_nopad,
                       client_error, flip, nested_arrays, put_be, refresh_envelope, refresh_inner, refresh_token_v2,
                       refresh_token_v3, send, spki_of)
from wire import DOCS, _decrypt_gcm, active_key_id, gcm_encrypt, key_secret, now_ms, seal

# ---------------------------------------------------------------- endpoints

GENERATE, VALIDATE, REFRESH, CSTG = "/v2/token/generate", "/v2/token/validate", "/v2/token/refresh", cstg.PATH
LOGOUT, MAP_V2, MAP_V3, BUCKETS = "/v2/token/logout", "/v2/identity/map", "/v3/identity/map", "/v2/identity/buckets"
KEY_LATEST, KEY_BIDSTREAM, KEY_SHARING = "/v2/key/latest", "/v2/key/bidstream", "/v2/key/sharing"
OPTOUT_STATUS, HEALTHCHECK = "/v2/optout/status", "/ops/healthcheck"
KEY_ENDPOINTS = (KEY_LATEST, KEY_BIDSTREAM, KEY_SHARING)

MATRIX_EMAIL = "matrix.validate@example.com"
MISSING_V3 = "Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash] must be specified"
MISSING = "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"
INCORRECT = "Incorrect request format"
INVALID_PAYLOAD = "Invalid payload in body: Data is not valid json string."
BAD_DATE = "invalid date, must conform to ISO 8601"
NO_SINCE = "missing parameter since_timestamp"
ORIGIN = "https://www.example.com"
INVALID_LOGOUT = Expect(400, "invalid_token")


class Endpoint:
    """An enveloped endpoint: who may call it, a payload it accepts, and what it answers to a field of the wrong
    type (`bad_field`) or to an object without any of its fields (`unrelated`)."""

    def __init__(self, path, roles, valid, bad_field, unrelated):
        self.path, self.roles, self.valid, self.bad_field, self.unrelated = path, roles, valid, bad_field, unrelated


ENVELOPED = {e.path: e for e in [
    Endpoint(GENERATE, {"GENERATOR"}, lambda c: {"email": "matrix.generate@example.com"},
             [client_error()], [client_error(MISSING)]),
    Endpoint(VALIDATE, {"GENERATOR"}, lambda c: {"token": c.ad_token, "email": MATRIX_EMAIL},
             [client_error()], [client_error()]),
    Endpoint(LOGOUT, {"OPTOUT"}, lambda c: {"email": "matrix.logout@example.com"},
             [INVALID_LOGOUT], [INVALID_LOGOUT]),
    Endpoint(MAP_V2, {"MAPPER"}, lambda c: {"email": ["matrix.map@example.com"]},
             [client_error()], [client_error(MISSING)]),
    Endpoint(MAP_V3, {"MAPPER"}, lambda c: {"email": ["matrix.map@example.com"]},
             [client_error(INCORRECT)], [client_error(INCORRECT)]),
    Endpoint(BUCKETS, {"MAPPER"}, lambda c: {"since_timestamp": "2099-01-01T00:00:00"},
             [client_error(BAD_DATE, NO_SINCE)], [client_error(NO_SINCE)]),
    Endpoint(KEY_LATEST, {"ID_READER"}, lambda c: {}, [OK], [OK]),
    Endpoint(KEY_BIDSTREAM, {"ID_READER"}, lambda c: {}, [OK], [OK]),
    Endpoint(KEY_SHARING, {"SHARER", "ID_READER"}, lambda c: {}, [OK], [OK]),
    Endpoint(OPTOUT_STATUS, {"MAPPER", "SHARER", "ID_READER"}, lambda c: {"advertising_ids": [b64(bytes(32))]},
             [client_error()], [client_error("Required Parameter Missing: advertising_ids")]),
]}

# A field of the wrong type, as raw JSON text (so that out-of-range numbers reach the server unchanged).
BAD_VALUES = {
    "int": "12345", "float": "1.5", "true": "true", "null": "null", "object": '{"x":1}', "nested-array": "[[1]]",
    "empty-string": '""', "array-of-null": "[null]", "array-of-ints": "[1,2,3]",
    "int-beyond-int64": "9223372036854775808", "int-below-int64": "-9223372036854775809",
    "huge-int": "1" + "0" * 400, "float-overflow": "1e999", "float-underflow": "-1e-999",
    "long-string": '"' + "a" * 200_000 + '"', "deep-nesting": "[" * 10_000 + "]" * 10_000,
}


UNREPRESENTABLE_NUMBERS = ("int-beyond-int64", "int-below-int64", "huge-int", "float-overflow", "float-underflow")


def bad_value_expectations(ep: Endpoint, name: str) -> list:
    """Where a wrong-type value is in fact acceptable, or answered with a more specific error."""
    if ep.path == MAP_V3 and name == "null":
        return [OK, client_error(MISSING_V3)]    # PROTOCOL 7.3: a key may be null; here it is the only key
    if name in UNREPRESENTABLE_NUMBERS and ep.path not in KEY_ENDPOINTS:
        return ep.bad_field + [client_error(INVALID_PAYLOAD)]   # a parser may refuse numbers it cannot hold
    if ep.path == MAP_V2 and name in ("array-of-null", "array-of-ints", "nested-array"):
        return [OK, client_error()]              # bad elements unmapped, or the whole request refused
    if name == "deep-nesting":
        return [client_error(INVALID_PAYLOAD)]   # deeper than any JSON parser's limit: not a JSON object
    return ep.bad_field


# ---------------------------------------------------------------- per-scope context

class Context:
    """What the cases need from one running operator, built once per scope."""

    def __init__(self, op):
        self.op = op
        self.scope_bit = 1 if op.scope == "euid" else 0
        self.docs = DOCS[op.scope]
        self.clients = {}
        for path, ep in ENVELOPED.items():
            candidates = [op.dev, op.mapper, op.id_reader, op.sharer, op.optout_client]
            found = [c for c in candidates if c is not None and ep.roles & {r.upper() for r in c.roles}]
            self.clients[path] = found[0] if found else None
        self.ad_token = self._generate_token(MATRIX_EMAIL)["advertising_token"]
        self.identity = self._generate_token("matrix.refresh@example.com")
        now_s = now_ms() / 1000
        self.refresh_key_id = active_key_id(op.db_path, -2, now_s)
        self.refresh_key = key_secret(op.db_path, self.refresh_key_id)
        self.master_key_id = active_key_id(op.db_path, -1, now_s)
        bidstream = self._download(KEY_BIDSTREAM, op.id_reader)["keys"]
        sharing = self._download(KEY_SHARING, op.sharer)["keys"]
        self.master_key = next(base64.b64decode(k["secret"]) for k in bidstream if k["id"] == self.master_key_id)
        site_keys = [k for k in sharing if k.get("keyset_id") not in (None, 9_999_999)] or \
                    [k for k in bidstream if k["id"] != self.master_key_id]
        self.site_key_id, self.site_key = site_keys[0]["id"], base64.b64decode(site_keys[0]["secret"])
        self.keypair = op.keypair

    def _generate_token(self, email):
        r, resp = v2_call(self.op, GENERATE, {"email": email}, client=self.clients[GENERATE])
        assert r.status == 200 and resp["status"] == "success", f"setup: generate failed: {r}"
        return resp["body"]

    def _download(self, path, client):
        assert client is not None, f"setup: no client for {path}: {self.op.setup_errors}"
        r, resp = v2_call(self.op, path, None, client=client)
        assert r.status == 200, f"setup: {path} failed: {r}"
        return resp["body"]

    def envelope_msg(self, what):
        return f"Invalid body: {what} See {self.docs} for details on the request envelope format."

    def client(self, path):
        c = self.clients[path]
        if c is None:
            pytest.fail(f"no client holds a role for {path} ({self.op.setup_errors})", pytrace=False)
        return c

    # ---- request builders

    def bearer(self, path):
        return [("Authorization", "Bearer " + self.client(path).api_key)]

    def sealed(self, path, payload=None, raw_payload: bytes = None, **seal_kw) -> bytes:
        """The base64 envelope of `payload` (JSON) or `raw_payload` (bytes as is) under the endpoint's client."""
        if raw_payload is None:
            raw_payload = json.dumps(ENVELOPED[path].valid(self) if payload is None else payload).encode()
        env, _ = seal(self.client(path).secret, raw_payload, **seal_kw)
        return env

    def enveloped(self, path, payload=None, raw_payload=None, headers=None, text=True, **seal_kw) -> Req:
        env = self.sealed(path, payload, raw_payload, **seal_kw)
        body = base64.b64encode(env) if text else env
        extra = [] if text else [("Content-Type", "application/octet-stream")]
        return Req("POST", path, body, (self.bearer(path) if headers is None else headers) + extra)

    def refresh_req(self, body, authenticated, headers=()) -> Req:
        data = body.encode() if isinstance(body, str) else body
        auth = [("Authorization", "Bearer " + self.op.dev.api_key)] if authenticated else []
        return Req("POST", REFRESH, data, auth + list(headers))

    def cstg_request(self, identity=None, **kw) -> dict:
        kp = self.keypair
        if kp is None:
            pytest.fail(f"no client-side keypair: {self.op.setup_errors.get('keypair')}", pytrace=False)
        box = cstg.CstgBox(kp.public_key)
        identity = {"email_hash": b64(os.urandom(32))} if identity is None else identity
        return box.request(kp.subscription_id, identity, **kw)

    def cstg_req(self, body, headers=None) -> Req:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Req("POST", CSTG, data, [("Origin", ORIGIN)] if headers is None else headers)

    def forged_v3(self, key_id, key, **kw) -> bytes:
        return refresh_token_v3(key_id, key, scope_bit=self.scope_bit, site_id=self.op.dev.site_id, **kw)

    def refresh_key_envelope(self, token_text: str) -> str:
        return refresh_envelope(self.refresh_key_id, self.refresh_key, refresh_inner(token_text), self.scope_bit << 4)


_contexts = {}


@pytest.fixture
def ctx(operator) -> Context:
    key = id(operator)
    if key not in _contexts:
        _contexts[key] = Context(operator)
    return _contexts[key]


# ---------------------------------------------------------------- the cases

CASES = []   # (endpoint, case name, build(ctx) -> (Req, [Expect]))


def case(endpoint, name):
    def register(build):
        CASES.append((endpoint, name, build))
        return build
    return register


def add(endpoint, name, build):
    CASES.append((endpoint, name, build))


# ---- envelope classes, on every enveloped endpoint (PROTOCOL 1.2)

def envelope_cases(path):
    ep = ENVELOPED[path]
    add(path, "control", lambda c: (c.enveloped(path), [OK]))
    add(path, "body-empty", lambda c: (Req("POST", path, b"", c.bearer(path)), [client_error("Invalid body: Body is missing.")]))
    add(path, "body-not-base64", lambda c: (Req("POST", path, b"this is not base64 !!!", c.bearer(path)),
                                            [client_error(c.envelope_msg("Body is not valid base64."))]))
    add(path, "body-nul-bytes", lambda c: (Req("POST", path, bytes(200), c.bearer(path)),
                                           [client_error(c.envelope_msg("Body is not valid base64."))]))
    add(path, "body-not-utf8", lambda c: (Req("POST", path, b"\xff\xfe\xfd" * 50, c.bearer(path)),
                                          [client_error(c.envelope_msg("Body is not valid base64."))]))
    add(path, "body-base64url", lambda c: (Req("POST", path, base64.urlsafe_b64encode(b"\xfb\xff" * 40), c.bearer(path)),
                                           [client_error(c.envelope_msg("Body is not valid base64."))]))
    add(path, "truncated-to-44-bytes", lambda c: (Req("POST", path, base64.b64encode(c.sealed(path)[:44]), c.bearer(path)),
                                                  [client_error(c.envelope_msg("Body too short. Check encryption method."))]))
    add(path, "truncated-to-version-byte", lambda c: (Req("POST", path, base64.b64encode(b"\x01"), c.bearer(path)),
                                                      [client_error(c.envelope_msg("Body too short. Check encryption method."))]))
    add(path, "truncated-by-one-byte", lambda c: (Req("POST", path, base64.b64encode(c.sealed(path)[:-1]), c.bearer(path)),
                                                  [client_error(c.envelope_msg("Check encryption key (ClientSecret)."))]))
    add(path, "truncated-base64-text", lambda c: (Req("POST", path, base64.b64encode(c.sealed(path))[:-3], c.bearer(path)),
                                                  [client_error()]))
    for version in (0, 2, 255):
        add(path, f"version-byte-{version}", lambda c, v=version: (
            Req("POST", path, base64.b64encode(bytes([v]) + c.sealed(path)[1:]), c.bearer(path)),
            [client_error(c.envelope_msg(f"Invalid request envelope format version: received {v}, must be 1."))]))
    for name, index in (("bad-gcm-tag", -1), ("bad-iv", 1), ("bad-ciphertext", 20)):
        add(path, name, lambda c, i=index: (Req("POST", path, base64.b64encode(flip(c.sealed(path), i)), c.bearer(path)),
                                            [client_error(c.envelope_msg("Check encryption key (ClientSecret)."))]))
    add(path, "wrong-secret", lambda c: (
        Req("POST", path, base64.b64encode(seal(os.urandom(32), {})[0]), c.bearer(path)),
        [client_error(c.envelope_msg("Check encryption key (ClientSecret)."))]))
    add(path, "binary-garbage", lambda c: (
        Req("POST", path, b"\x01" + os.urandom(99), c.bearer(path) + [("Content-Type", "application/octet-stream")]),
        [client_error(c.envelope_msg("Check encryption key (ClientSecret)."))]))
    add(path, "binary-too-short", lambda c: (
        Req("POST", path, b"\x01" * 10, c.bearer(path) + [("Content-Type", "application/octet-stream")]),
        [client_error()]))
    add(path, "binary-control", lambda c: (c.enveloped(path, text=False), [OK]))
    add(path, "body-over-1mib", lambda c: (Req("POST", path, b"A" * (1024 * 1024 + 1), c.bearer(path)), [TOO_LARGE]))
    stale = "Invalid timestamp: Request too old or client time drift."
    for name, ts in (("int64-min", lambda: INT64_MIN), ("int64-min-plus-1", lambda: INT64_MIN + 1),
                     ("int64-max", lambda: INT64_MAX), ("zero", lambda: 0), ("minus-1", lambda: -1),
                     ("far-future", lambda: now_ms() + 100 * 365 * 86_400_000),
                     ("far-past", lambda: now_ms() - 100 * 365 * 86_400_000),
                     ("now-minus-2^62", lambda: now_ms() - 2 ** 62), ("now-plus-2^62", lambda: now_ms() + 2 ** 62)):
        add(path, f"timestamp-{name}", lambda c, t=ts: (c.enveloped(path, ts_ms=t()), [client_error(stale)]))
    # payloads that are not a JSON object
    for name, raw in (("not-json", b"not json"), ("json-array", b"[1,2]"), ("json-string", b'"text"'),
                      ("json-number", b"42"), ("truncated-json", b'{"email": "a'), ("not-utf8", b"\xff\xfe\xfd{}"),
                      ("deep-nesting-10000", nested_arrays(10_000)),
                      ("deep-object-nesting", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
                      ("nul-bytes", bytes(64))):
        add(path, f"payload-{name}", lambda c, r=raw: (c.enveloped(path, raw_payload=r), [client_error(INVALID_PAYLOAD)]))
    add(path, "payload-json-null", lambda c: (c.enveloped(path, raw_payload=b"null"),
                                             [client_error()] + ([OK] if path in KEY_ENDPOINTS else [])))
    # JSON objects of the wrong shape
    add(path, "payload-unrelated-object", lambda c: (c.enveloped(path, {"unrelated": "x"}), ep.unrelated))
    add(path, "payload-many-keys", lambda c: (c.enveloped(path, {f"k{i}": i for i in range(20_000)}), ep.unrelated))
    add(path, "payload-huge-array", lambda c: (c.enveloped(path, {"unrelated": [0] * 200_000}), ep.unrelated))
    fields = list(ep.valid(None).keys()) if path != VALIDATE else ["token", "email"]
    for fname in fields or ["x"]:
        for vname, text in BAD_VALUES.items():
            add(path, f"field-{fname}-{vname}", lambda c, f=fname, v=text, n=vname: (
                c.enveloped(path, raw_payload=with_field(ep.valid(c), f, v.encode())),
                bad_value_expectations(ep, n)))
        add(path, f"field-{fname}-not-utf8", lambda c, f=fname: (
            c.enveloped(path, raw_payload=with_field(ep.valid(c), f, b'"\xff\xfe@example.com"')),
            [OK, client_error()] + ep.bad_field))
        add(path, f"field-{fname}-duplicate-key", lambda c, f=fname: (
            c.enveloped(path, raw_payload=duplicated(ep.valid(c), f)),
            [OK, client_error()] + ep.bad_field))


def duplicated(valid: dict, name: str) -> bytes:
    """`valid` as JSON text with `name` given twice: first a number, then the valid value (or 1)."""
    rest = json.dumps(valid).encode()[1:-1] or b'"' + name.encode() + b'": 1'
    return b'{"' + name.encode() + b'": 12345, ' + rest + b"}"


def with_field(valid: dict, name: str, raw_value: bytes) -> bytes:
    """`valid` as JSON text with field `name` set to the raw JSON text `raw_value`."""
    others = {k: v for k, v in valid.items() if k != name}
    rest = json.dumps(others).encode()[1:-1]
    return b'{"' + name.encode() + b'": ' + raw_value + (b", " + rest if rest else b"") + b"}"


for _path in ENVELOPED:
    envelope_cases(_path)


# ---- endpoint-specific payloads

for _n, (_payload, _expect) in {
    "email-list-20000": ({"email": [f"m{i}@example.com" for i in range(20_000)]}, [client_error()]),
    "email-and-phone": ({"email": ["a@example.com"], "phone": ["+14155550100"]}, [client_error(MISSING)]),
}.items():
    add(MAP_V2, _n, lambda c, p=_payload, e=_expect: (c.enveloped(MAP_V2, p), e))
add(MAP_V3, "email-list-20000", lambda c: (c.enveloped(MAP_V3, {"email": [f"m{i}@example.com" for i in range(20_000)]}),
                                           [client_error()]))
add(OPTOUT_STATUS, "ids-6000", lambda c: (c.enveloped(OPTOUT_STATUS, {"advertising_ids": [b64(bytes(32))] * 6_000}),
                                           [client_error("Request payload is too large")]))
add(OPTOUT_STATUS, "ids-not-base64", lambda c: (c.enveloped(OPTOUT_STATUS, {"advertising_ids": ["!!", "", "é" * 50]}), [OK]))
for _n, _text in {"empty": "", "garbage": "not a date", "month-13": "2020-13-01T00:00:00", "day-32": "2020-01-32T00:00",
                  "hour-25": "2020-01-01T25:00", "second-61": "2020-01-01T00:00:61",
                  "ten-digit-fraction": "2020-01-01T00:00:00.1234567890", "five-digit-year": "99999-01-01T00:00:00",
                  "signed-year": "+9999-01-01T00:00:00", "negative-year": "-0001-01-01T00:00:00",
                  "with-zone": "2099-01-01T00:00:00Z", "non-ascii-digits": "２０９９-01-01T00:00:00",
                  "nul": "2099\u0000-01-01T00:00", "long": "2099-01-01T00:00:00." + "9" * 100_000}.items():
    add(BUCKETS, f"since-{_n}", lambda c, t=_text: (c.enveloped(BUCKETS, {"since_timestamp": t}), [client_error(BAD_DATE)]))
add(BUCKETS, "since-year-9999", lambda c: (c.enveloped(BUCKETS, {"since_timestamp": "9999-12-31T23:59:59.999999999"}), [OK]))
add(GENERATE, "tcf-consent-wrong-type", lambda c: (c.enveloped(GENERATE, {"email": "a@example.com", "tcf_consent_string": 5}),
                                                   [OK, client_error()]))
add(GENERATE, "tcf-consent-garbage", lambda c: (
    c.enveloped(GENERATE, {"email": "a@example.com", "tcf_consent_string": "\u00ff" * 1000 + "!!"}),
    [OK, client_error()]))
add(GENERATE, "phone-overlong", lambda c: (c.enveloped(GENERATE, {"phone": "+" + "9" * 100_000}), [client_error("Invalid Identifier")]))
add(GENERATE, "email-hash-wrong-length", lambda c: (c.enveloped(GENERATE, {"email_hash": b64(os.urandom(30))}),
                                                    [client_error("Invalid Identifier")]))
add(LOGOUT, "email-invalid", lambda c: (c.enveloped(LOGOUT, {"email": "no-at-sign"}), [INVALID_LOGOUT]))


# ---- advertising tokens tampered in every field (/v2/token/validate, PROTOCOL 4.2)

INVALID_AD_TOKEN = client_error("Invalid token")


def token_bytes(c) -> bytes:
    return b64url_decode(c.ad_token)


def validate_with(c, token) -> Req:
    return c.enveloped(VALIDATE, {"token": token, "email": MATRIX_EMAIL})


def tampered(mutate, strict=True):
    """A V4 token with one field changed; `strict`: it cannot decode (else it may also validate, true or false)."""
    return lambda c: (validate_with(c, b64url_nopad(mutate(c, token_bytes(c)))),
                      [INVALID_AD_TOKEN] if strict else [INVALID_AD_TOKEN, OK])


for _name, _mutate, _strict in [
    ("type-byte-scope-flipped", lambda c, t: flip(t, 0, 0x10), False),
    ("type-byte-phone", lambda c, t: flip(t, 0, 0x04), False),
    ("type-byte-zero", lambda c, t: put_be(t, 0, 0, 1, signed=False), False),
    ("type-byte-0x02", lambda c, t: put_be(t, 0, 2, 1, signed=False), True),
    ("version-byte-0x00", lambda c, t: put_be(t, 1, 0, 1, signed=False), True),
    ("version-byte-0xff", lambda c, t: put_be(t, 1, 0xFF, 1, signed=False), True),
    ("version-byte-v3", lambda c, t: put_be(t, 1, 0x70, 1, signed=False), False),
    ("version-byte-v2", lambda c, t: put_be(t, 1, 2, 1, signed=False), True),
    ("master-key-id-unknown", lambda c, t: put_be(t, 2, 0x7FFFFFF0, 4), True),
    ("master-key-id-negative", lambda c, t: put_be(t, 2, -1, 4), True),
    ("master-key-id-int32-min", lambda c, t: put_be(t, 2, -(2 ** 31), 4), True),
    ("master-key-id-site-key", lambda c, t: put_be(t, 2, c.site_key_id, 4), True),
    ("master-key-id-refresh-key", lambda c, t: put_be(t, 2, c.refresh_key_id, 4), True),
    ("iv-flipped", lambda c, t: flip(t, 7), True),
    ("ciphertext-flipped", lambda c, t: flip(t, 60), True),
    ("site-layer-flipped", lambda c, t: flip(t, 100), True),
    ("gcm-tag-flipped", lambda c, t: flip(t, len(t) - 1), True),
    ("truncated-by-one", lambda c, t: t[:-1], True),
    ("truncated-to-half", lambda c, t: t[:len(t) // 2], True),
    ("truncated-to-header", lambda c, t: t[:6], True),
    ("truncated-to-version", lambda c, t: t[:2], True),
    ("truncated-to-one-byte", lambda c, t: t[:1], True),
    ("extended-by-garbage", lambda c, t: t + os.urandom(40), True),
]:
    add(VALIDATE, f"token-{_name}", tampered(_mutate, _strict))

for _name, _text in {"empty": "", "AA==": "AA==", "QQ==abcd": "QQ==abcd", "AAAA": "AAAA", "A": "A", "Ag": "Ag",
                     "A4": "A4", "A4AA": "A4AA", "padding-only": "====", "slashes": "////", "dashes": "-_-_",
                     "non-ascii": "é" * 40, "nul": "\u0000" * 40, "whitespace": " " * 40,
                     "huge": "A" * 500_000, "v2-garbage": b64(b"\x02" + os.urandom(90)),
                     "v3-garbage": b64(b"\x03\x70" + os.urandom(150)), "v4-garbage": b64url_nopad(b"\x03\x80" + os.urandom(150))}.items():
    add(VALIDATE, f"token-{_name}", lambda c, t=_text: (validate_with(c, t), [INVALID_AD_TOKEN]))
add(VALIDATE, "token-standard-alphabet", lambda c: (
    validate_with(c, base64.b64encode(token_bytes(c)).decode()), [INVALID_AD_TOKEN, OK]))
add(VALIDATE, "token-base64url-padded", lambda c: (
    validate_with(c, base64.urlsafe_b64encode(token_bytes(c)).decode()), [INVALID_AD_TOKEN, OK]))
add(VALIDATE, "token-with-newline", lambda c: (validate_with(c, c.ad_token[:50] + "\n" + c.ad_token[50:]),
                                               [INVALID_AD_TOKEN, OK]))
add(VALIDATE, "token-forged-under-master-only", lambda c: (
    validate_with(c, b64url_nopad(bytes([token_bytes(c)[0], 0x80]) + c.master_key_id.to_bytes(4, "big")
                                  + gcm_encrypt(c.master_key, os.urandom(60)))),
    [INVALID_AD_TOKEN]))


# ---- /v2/token/refresh (PROTOCOL 6; DECISIONS: refresh tokens open only under refresh-keyset keys)

def refresh_invalid(authenticated):
    return [INVALID_TOKEN if authenticated else REFRESH_ERROR]


def refresh_case(name, body_of, expect_of=None):
    """With and without an API key. `body_of(c)` -> body; `expect_of(c, authenticated)` -> [Expect] (default:
    the invalid-token answer)."""
    expect_of = expect_of or (lambda c, a: refresh_invalid(a))
    for authenticated in (True, False):
        add(REFRESH, f"{name}-{'with-key' if authenticated else 'without-key'}",
            lambda c, a=authenticated: (c.refresh_req(body_of(c), a), expect_of(c, a)))


def inner_token(c) -> bytes:
    """The V3 refresh token inside the refresh envelope that generate handed out."""
    env = base64.b64decode(c.identity["refresh_token"])
    inner = _decrypt_gcm(env[5:], key_secret(c.op.db_path, int.from_bytes(env[1:5], "big")))
    return base64.b64decode(json.loads(inner)["refresh_token"])


ENVELOPE_ERR = {
    "base64": "Invalid body: Body is not valid base64.",
    "data": "Invalid data: Check encryption method and encryption key.",
    "format": "Invalid format: Payload is not valid json or missing required data.",
}

refresh_case("control-envelope", lambda c: c.identity["refresh_token"], lambda c, a: [OK])
refresh_case("control-bare-token", lambda c: b64(inner_token(c)), lambda c, a: [OK])
refresh_case("empty", lambda c: b"")
refresh_case("garbage", lambda c: "garbage-refresh-token")
refresh_case("AA==", lambda c: "AA==")
refresh_case("QQ==abcd", lambda c: "QQ==abcd")
refresh_case("one-byte", lambda c: b64(b"\x70"))
refresh_case("two-bytes-v3", lambda c: b64(b"\x03\x70"))
refresh_case("two-bytes-v2", lambda c: b64(b"\x02\x00"))
refresh_case("non-ascii", lambda c: "é" * 100)
refresh_case("json-object", lambda c: json.dumps({"refresh_token": c.identity["refresh_token"]}))
refresh_case("deep-nesting", lambda c: nested_arrays(1_500))
refresh_case("base64-3-kib", lambda c: b64(os.urandom(2_300)))
refresh_case("huge-base64", lambda c: b64(os.urandom(600_000)))
refresh_case("envelope-truncated-to-387", lambda c: c.identity["refresh_token"][:387])
refresh_case("envelope-plus-one-char", lambda c: c.identity["refresh_token"] + "A")
add(REFRESH, "body-over-1mib", lambda c: (c.refresh_req(b"A" * (1024 * 1024 + 1), False), [TOO_LARGE]))
refresh_case("envelope-not-base64", lambda c: "!" * 388, lambda c, a: [client_error(ENVELOPE_ERR["base64"])])
refresh_case("envelope-all-padding", lambda c: "=" * 388, lambda c, a: [client_error(ENVELOPE_ERR["base64"])])
refresh_case("envelope-not-utf8", lambda c: b"\xff" * 388,
             lambda c, a: [client_error(ENVELOPE_ERR["base64"])] + refresh_invalid(a))
refresh_case("envelope-gcm-tag-flipped", lambda c: b64(flip(base64.b64decode(c.identity["refresh_token"]), -1)),
             lambda c, a: [client_error(ENVELOPE_ERR["data"])])
refresh_case("envelope-iv-flipped", lambda c: b64(flip(base64.b64decode(c.identity["refresh_token"]), 6)),
             lambda c, a: [client_error(ENVELOPE_ERR["data"])])
refresh_case("envelope-290-bytes", lambda c: b64(base64.b64decode(c.identity["refresh_token"])[:290]),
             lambda c, a: [client_error(ENVELOPE_ERR["data"])])
refresh_case("envelope-key-id-unknown", lambda c: b64(put_be(base64.b64decode(c.identity["refresh_token"]), 1, 0x7FFFFFF0, 4)),
             lambda c, a: [client_error("Invalid key: Generator of this token (Key ID: 2147483632) does not exist.")])
refresh_case("envelope-key-id-int32-min", lambda c: b64(put_be(base64.b64decode(c.identity["refresh_token"]), 1, -(2 ** 31), 4)),
             lambda c, a: [client_error()])
refresh_case("envelope-key-id-master", lambda c: b64(put_be(base64.b64decode(c.identity["refresh_token"]), 1, c.master_key_id, 4)),
             lambda c, a: [client_error()])
refresh_case("envelope-scope-byte-flipped", lambda c: b64(flip(base64.b64decode(c.identity["refresh_token"]), 0, 0x10)),
             lambda c, a: [OK, client_error()])
refresh_case("envelope-scope-byte-0xff", lambda c: b64(put_be(base64.b64decode(c.identity["refresh_token"]), 0, 0xFF, 1, signed=False)),
             lambda c, a: [OK, client_error()])
refresh_case("envelope-base64url", lambda c: c.identity["refresh_token"].replace("+", "-").replace("/", "_"),
             lambda c, a: [OK, client_error(ENVELOPE_ERR["base64"])])
add(REFRESH, "envelope-octet-stream", lambda c: (
    c.refresh_req(c.identity["refresh_token"], False, [("Content-Type", "application/octet-stream")]), [OK]))

# the inner JSON of a refresh envelope sealed under the real refresh key
for _name, _inner in {
    "not-json": lambda c: b"x" * 100, "array": lambda c: b"[1,2]", "empty-object": lambda c: b"{}",
    "wrong-types": lambda c: b'{"refresh_response_key": 5, "refresh_token": []}',
    "response-key-not-base64": lambda c: refresh_inner(b64(inner_token(c)), "!!!!"),
    "response-key-5-bytes": lambda c: refresh_inner(b64(inner_token(c)), b64(b"12345")),
    "response-key-empty": lambda c: refresh_inner(b64(inner_token(c)), ""),
    "deep-nesting": lambda c: nested_arrays(120),
    "not-utf8": lambda c: b'{"refresh_response_key": "\xff\xfe", "refresh_token": "\xff"}',
    "nul-bytes": lambda c: bytes(100),
}.items():
    refresh_case(f"envelope-inner-{_name}", lambda c, f=_inner: refresh_envelope(c.refresh_key_id, c.refresh_key, f(c)),
                 lambda c, a: [client_error(ENVELOPE_ERR["format"])])
refresh_case("envelope-inner-response-key-16-bytes", lambda c: refresh_envelope(
    c.refresh_key_id, c.refresh_key, refresh_inner(b64(inner_token(c)), b64(os.urandom(16)))),
    lambda c, a: [OK, client_error(ENVELOPE_ERR["format"])])

# the inner refresh token tampered in every field, inside a well-formed envelope and bare
TOKEN_MUTATIONS = {
    "type-byte-mismatch": lambda c, t: flip(t, 0, 0x04),
    "scope-byte-flipped": lambda c, t: flip(t, 0, 0x10),
    "version-byte-0x71": lambda c, t: put_be(t, 1, 0x71, 1, signed=False),
    "version-byte-0x00": lambda c, t: put_be(t, 1, 0, 1, signed=False),
    "key-id-unknown": lambda c, t: put_be(t, 2, 0x7FFFFFF0, 4),
    "key-id-master": lambda c, t: put_be(t, 2, c.master_key_id, 4),
    "key-id-site": lambda c, t: put_be(t, 2, c.site_key_id, 4),
    "iv-flipped": lambda c, t: flip(t, 8),
    "ciphertext-flipped": lambda c, t: flip(t, 60),
    "gcm-tag-flipped": lambda c, t: flip(t, len(t) - 1),
    "truncated-to-1": lambda c, t: t[:1],
    "truncated-to-2": lambda c, t: t[:2],
    "truncated-to-6": lambda c, t: t[:6],
    "truncated-to-21": lambda c, t: t[:21],
    "truncated-by-one": lambda c, t: t[:-1],
    "extended": lambda c, t: t + bytes(2),     # still 168 characters
}
for _name, _mutate in TOKEN_MUTATIONS.items():
    refresh_case(f"inner-token-{_name}", lambda c, m=_mutate: c.refresh_key_envelope(b64(m(c, inner_token(c)))))
    refresh_case(f"bare-token-{_name}", lambda c, m=_mutate: b64(m(c, inner_token(c))))
for _name, _text in {"empty": "", "AA==": "AA==", "QQ==abcd": "QQ==abcd", "base64url": None}.items():
    refresh_case(f"inner-token-{_name}", lambda c, t=_text: c.refresh_key_envelope(
        t if t is not None else b64(inner_token(c)).replace("+", "-").replace("/", "_")),
        (lambda c, a: refresh_invalid(a) + [OK]) if _text is None else None)

# V3 refresh tokens with chosen field values, sealed under the real refresh key
for _name, _kw, _expect in [
    ("control", {}, lambda c, a: [OK]),
    ("phone", {"type_bits": 1}, lambda c, a: [OK]),
    ("expired", {"expires_ms": now_ms() - 1000},
     lambda c, a: [Expect(400, "expired_token", ("Expired Token presented",)) if a else REFRESH_ERROR]),
    ("expires-int64-min", {"expires_ms": INT64_MIN},
     lambda c, a: [Expect(400, "expired_token", ("Expired Token presented",)) if a else REFRESH_ERROR]),
    ("expires-int64-max", {"expires_ms": INT64_MAX}, lambda c, a: [OK] + refresh_invalid(a)),
    ("created-int64-min", {"created_ms": INT64_MIN}, lambda c, a: [OK] + refresh_invalid(a)),
    ("created-int64-max", {"created_ms": INT64_MAX}, lambda c, a: [OK] + refresh_invalid(a)),
    ("established-int64-min", {"established_ms": INT64_MIN}, lambda c, a: [OK]),   # before the cut-off: opt-out
    ("established-int64-max", {"established_ms": INT64_MAX}, lambda c, a: [OK] + refresh_invalid(a)),
    ("established-before-cutoff", {"established_ms": REFRESH_CUTOFF_MS - 1}, lambda c, a: [OK]),
    ("all-times-int64-max", {"expires_ms": INT64_MAX, "created_ms": INT64_MAX, "established_ms": INT64_MAX},
     lambda c, a: [OK] + refresh_invalid(a)),
    ("privacy-bits-minus-1", {"privacy_bits": -1}, lambda c, a: [OK] + refresh_invalid(a)),
    ("payload-type-invalid", {"payload_type_byte": 0x0F}, None),
    ("payload-scope-mismatch", lambda c: {"payload_type_byte": ((1 - c.scope_bit) << 4) | 3}, None),
    ("header-type-invalid", {"header_byte": 0x0F}, None),
    ("flh-short", {"flh": b"\x01\x02"}, None),
]:
    refresh_case(f"v3-{_name}", lambda c, kw=_kw: c.refresh_key_envelope(b64(c.forged_v3(
        c.refresh_key_id, c.refresh_key, **(kw(c) if callable(kw) else kw)))),
                 _expect)
for _name, _site in {"site-id-minus-1": -1, "site-id-int32-min": -(2 ** 31), "site-id-0": 0, "site-id-int32-max": 2 ** 31 - 1}.items():
    refresh_case(f"v3-{_name}", lambda c, s=_site: c.refresh_key_envelope(b64(refresh_token_v3(
        c.refresh_key_id, c.refresh_key, scope_bit=c.scope_bit, site_id=s))), lambda c, a: [OK] + refresh_invalid(a))

# forged under keys that participants download: must never be accepted
refresh_case("forged-v3-under-master-key-bare", lambda c: b64(c.forged_v3(c.master_key_id, c.master_key)))
refresh_case("forged-v3-under-site-key-bare", lambda c: b64(c.forged_v3(c.site_key_id, c.site_key)))
refresh_case("forged-v3-under-master-key-in-refresh-envelope",
             lambda c: c.refresh_key_envelope(b64(c.forged_v3(c.master_key_id, c.master_key))))
refresh_case("forged-v3-under-site-key-in-refresh-envelope",
             lambda c: c.refresh_key_envelope(b64(c.forged_v3(c.site_key_id, c.site_key))))
refresh_case("forged-envelope-and-v3-under-master-key", lambda c: refresh_envelope(
    c.master_key_id, c.master_key, refresh_inner(b64(c.forged_v3(c.master_key_id, c.master_key))), c.scope_bit << 4),
    lambda c, a: [client_error()] + refresh_invalid(a))
refresh_case("forged-envelope-and-v3-under-site-key", lambda c: refresh_envelope(
    c.site_key_id, c.site_key, refresh_inner(b64(c.forged_v3(c.site_key_id, c.site_key))), c.scope_bit << 4),
    lambda c, a: [client_error()] + refresh_invalid(a))
refresh_case("forged-envelope-under-master-key-real-token", lambda c: refresh_envelope(
    c.master_key_id, c.master_key, refresh_inner(b64(inner_token(c))), c.scope_bit << 4),
    lambda c, a: [client_error()] + refresh_invalid(a))


# legacy V2 refresh tokens (PROTOCOL 4.5): UID2/email only, so an EUID operator refuses even the control
def v2_body(key_of, identity_text, **kw):
    def build(c):
        key_id, key = key_of(c)
        return b64(refresh_token_v2(key_id, key, site_id=c.op.dev.site_id, identity_text=identity_text, **kw))
    return build


REFRESH_KEY = lambda c: (c.refresh_key_id, c.refresh_key)       # noqa: E731
MASTER_KEY = lambda c: (c.master_key_id, c.master_key)          # noqa: E731
SITE_KEY = lambda c: (c.site_key_id, c.site_key)                # noqa: E731
FLH = base64.b64encode(os.urandom(32))

refresh_case("v2-control", v2_body(REFRESH_KEY, FLH),
             lambda c, a: [OK] if c.op.scope == "uid2" else refresh_invalid(a))
refresh_case("v2-control-in-envelope", lambda c: c.refresh_key_envelope(v2_body(REFRESH_KEY, FLH)(c)),
             lambda c, a: [OK] if c.op.scope == "uid2" else refresh_invalid(a))
for _name, _ident in {"identity-0-bytes": b"", "identity-1-byte": b64(b"\x01").encode(),
                      "identity-2-bytes": b64(b"\x01\x02").encode(), "identity-31-bytes": b64(os.urandom(31)).encode(),
                      "identity-33-bytes": b64(os.urandom(33)).encode(), "identity-not-base64": b"!" * 44,
                      "identity-64-bytes": b64(os.urandom(64)).encode()}.items():
    refresh_case(f"v2-{_name}", v2_body(REFRESH_KEY, _ident))
    if len(_ident) <= 44:   # larger V2 tokens do not fit a 388-character envelope
        refresh_case(f"v2-{_name}-in-envelope", lambda c, b=v2_body(REFRESH_KEY, _ident): c.refresh_key_envelope(b(c)))
for _name, _len in {"length-negative": -1, "length-int32-min": -(2 ** 31), "length-int32-max": 2 ** 31 - 1,
                    "length-beyond-payload": 1000}.items():
    refresh_case(f"v2-{_name}", v2_body(REFRESH_KEY, FLH, identity_len=_len))
refresh_case("v2-expired", v2_body(REFRESH_KEY, FLH, expires_ms=now_ms() - 120_000),
             lambda c, a: [Expect(400, "expired_token") if a and c.op.scope == "uid2" else refresh_invalid(a)[0]])
refresh_case("v2-valid-till-int64-min", v2_body(REFRESH_KEY, FLH, expires_ms=INT64_MIN + 60_000),
             lambda c, a: [Expect(400, "expired_token") if a and c.op.scope == "uid2" else refresh_invalid(a)[0]])
refresh_case("v2-established-int64-max", v2_body(REFRESH_KEY, FLH, established_ms=INT64_MAX),
             lambda c, a: [OK] + refresh_invalid(a))
refresh_case("v2-truncated-cbc", lambda c: b64(base64.b64decode(v2_body(REFRESH_KEY, FLH)(c))[:-16]))
refresh_case("v2-cbc-not-block-aligned", lambda c: b64(base64.b64decode(v2_body(REFRESH_KEY, FLH)(c))[:-5]))
refresh_case("v2-header-only", lambda c: b64(base64.b64decode(v2_body(REFRESH_KEY, FLH)(c))[:33]))
refresh_case("forged-v2-under-master-key", v2_body(MASTER_KEY, FLH))
refresh_case("forged-v2-under-site-key", v2_body(SITE_KEY, FLH))
refresh_case("forged-v2-short-identity-under-master-key", v2_body(MASTER_KEY, b64(b"\x01").encode()))


# ---- /v2/token/client-generate (PROTOCOL 7.9)

def cstg_mutated(mutate, expect):
    def build(c):
        req = c.cstg_request()
        mutate(c, req)
        return c.cstg_req(req), expect
    return build


def spki(private_key=None, compressed=False) -> bytes:
    return spki_of(private_key or ec.generate_private_key(ec.SECP256R1()), compressed)


def off_curve_spki() -> bytes:
    der = bytearray(spki())
    der[-1] ^= 0x01          # y no longer matches x
    return bytes(der)


def p384_spki() -> bytes:
    return ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def infinity_spki() -> bytes:
    der = bytearray(spki())
    der[-65:] = b"\x04" + bytes(64)
    return bytes(der)


BAD_KEY = client_error("bad public key")
add(CSTG, "control", lambda c: (c.cstg_req(c.cstg_request()), [OK]))
for _name, _key in {
    "not-base64": lambda: "!!!not base64!!!",
    "empty": lambda: "",
    "10-bytes": lambda: b64(os.urandom(10)),
    "spki-truncated": lambda: b64(spki()[:-1]),
    "spki-extended": lambda: b64(spki() + b"\x00"),
    "not-on-curve": lambda: b64(off_curve_spki()),
    "point-at-infinity": lambda: b64(infinity_spki()),
    "raw-point-without-spki": lambda: b64(spki()[-65:]),
    "p384-key": lambda: b64(p384_spki()),
    "huge": lambda: b64(os.urandom(7_000)),
    "base64url": lambda: base64.urlsafe_b64encode(b"\xfb\xff" + spki()).decode(),
    "non-ascii": lambda: "é" * 91,
}.items():
    add(CSTG, f"public-key-{_name}", cstg_mutated(lambda c, q, k=_key: q.update(public_key=k()),
                                                  [BAD_KEY] if _name != "empty" else [client_error()]))
add(CSTG, "public-key-compressed-point", cstg_mutated(lambda c, q: q.update(public_key=b64(spki(compressed=True))),
                                                       [BAD_KEY, client_error("payload decryption failed"), OK]))
for _name, _iv in {"not-base64": "!!!!", "empty": "", "11-bytes": b64(os.urandom(11)), "13-bytes": b64(os.urandom(13)),
                   "16-bytes": b64(os.urandom(16)), "huge": b64(os.urandom(7_000)), "non-ascii": "é" * 16}.items():
    add(CSTG, f"iv-{_name}", cstg_mutated(lambda c, q, v=_iv: q.update(iv=v),
                                          [client_error("bad iv")] if _name != "empty" else [client_error()]))
for _name, _payload in {"not-base64": "!!!!", "empty": "", "1-byte": b64(b"\x00"), "15-bytes": b64(os.urandom(15)),
                        "16-bytes": b64(os.urandom(16)), "random-1000": b64(os.urandom(1000)),
                        "huge": b64(os.urandom(7_000))}.items():
    add(CSTG, f"payload-{_name}", cstg_mutated(lambda c, q, p=_payload: q.update(payload=p), [client_error()]))
add(CSTG, "payload-flipped-tag", cstg_mutated(
    lambda c, q: q.update(payload=b64(flip(base64.b64decode(q["payload"]), -1))), [client_error("payload decryption failed")]))
for _name, _plain in {"not-json": b"not json", "array": b"[1]", "deep-nesting": nested_arrays(5_000),
                      "not-utf8": b'{"email_hash": "\xff\xfe"}', "hash-number": b'{"email_hash": 5}',
                      "hash-null": b'{"email_hash": null}', "both-hashes": None, "empty-object": b"{}",
                      "hash-short": b'{"email_hash": "AAAA"}', "hash-huge": b'{"email_hash": "' + b"A" * 8_000 + b'"}',
                      "duplicate-hash": None}.items():
    def _plaintext(c, name=_name, plain=_plain):
        h = b64(os.urandom(32))
        if name == "both-hashes":
            return json.dumps({"email_hash": h, "phone_hash": h}).encode()
        if name == "duplicate-hash":
            return b'{"email_hash": 5, "email_hash": "' + h.encode() + b'"}'
        return plain
    add(CSTG, f"encrypted-{_name}", lambda c, p=_plaintext, n=_name: (
        c.cstg_req(c.cstg_request(p(c))), [OK, client_error()] if n == "duplicate-hash" else [client_error()]))
for _name, _sub in {"unknown": "nope", "empty": "", "huge": "s" * 10_000, "non-ascii": "ü" * 10, "nul": "\u0000",
                    "number": 5, "object": {"a": 1}}.items():
    add(CSTG, f"subscription-id-{_name}", cstg_mutated(lambda c, q, s=_sub: q.update(subscription_id=s), [client_error()]))
for _name, _ts in {"int64-max": INT64_MAX, "int64-min": INT64_MIN, "zero": 0, "minus-1": -1}.items():
    add(CSTG, f"timestamp-{_name}", lambda c, t=_ts: (c.cstg_req(c.cstg_request(timestamp=t)), [OK, client_error()]))
for _name, _raw in {"beyond-int64": str(2 ** 63), "below-int64": str(-(2 ** 63) - 1), "huge": "1" + "0" * 400,
                    "float": "1.5", "exponent": "1e300", "overflow": "1e999", "string": '"123"', "null": "null"}.items():
    def _raw_ts(c, raw=_raw):
        req = c.cstg_request()
        text = json.dumps({**req, "timestamp": "__TS__"}).encode()
        return c.cstg_req(text.replace(b'"__TS__"', raw.encode()))
    add(CSTG, f"timestamp-{_name}", lambda c, f=_raw_ts: (f(c), [client_error()]))
for _name, _app in {"huge": "a" * 10_000, "non-ascii": "приложение", "number": 7, "nul": "\u0000"}.items():
    add(CSTG, f"app-name-{_name}", cstg_mutated(
        lambda c, q, a=_app: q.update(app_name=a),
        [client_error(), Expect(403, "invalid_app_name")]))
for _name, _body in {"empty": b"", "not-json": b"not json", "array": b"[1,2]", "deep-nesting": nested_arrays(5_000),
                     "deep-object": b'{"a":' * 2_000 + b"1" + b"}" * 2_000, "not-utf8": b'{"payload": "\xff\xfe"}',
                     "huge-array": json.dumps({"payload": [0] * 4_000}).encode(), "null": b"null",
                     "huge-array-600-kb": json.dumps({"payload": [0] * 200_000}).encode(),
                     "over-1mib": b"{" + b" " * (1024 * 1024) + b"}"}.items():
    add(CSTG, f"body-{_name}", lambda c, b=_body, n=_name: (c.cstg_req(b), [TOO_LARGE] if n == "over-1mib" else [client_error()]))
add(CSTG, "unknown-field", cstg_mutated(lambda c, q: q.update(extra="field"), [client_error()]))
add(CSTG, "duplicate-subscription-id", lambda c: (
    c.cstg_req(b'{"subscription_id": 5, ' + json.dumps(c.cstg_request()).encode()[1:]), [OK, client_error()]))
for _name, _origin in {"missing": None, "null": "null", "no-host": "http://", "garbage": "::::", "non-ascii": "https://é.com",
                       "huge": "https://" + "a" * 60_000 + ".com", "ip": "http://127.0.0.1"}.items():
    add(CSTG, f"origin-{_name}", lambda c, o=_origin: (
        c.cstg_req(c.cstg_request(), headers=[] if o is None else [("Origin", o.encode("utf-8"))]),
        [Expect(403, "invalid_http_origin"), client_error()]))


# ---- Authorization header (PROTOCOL 2.1), on every endpoint

AUTH_HEADERS = {
    "missing": lambda c, key: [],
    "empty": lambda c, key: [("Authorization", "")],
    "scheme-only": lambda c, key: [("Authorization", "Bearer")],
    "scheme-and-space": lambda c, key: [("Authorization", "Bearer ")],
    "basic": lambda c, key: [("Authorization", "Basic " + base64.b64encode(b"user:pass").decode())],
    "unknown-key": lambda c, key: [("Authorization", "Bearer UID2-C-L-999-abcdef.notAKeyThatExists000000000000000000")],
    "unknown-key-other-site": lambda c, key: [("Authorization", "Bearer UID2-C-L-2147483648-abcdef.x")],
    "key-with-suffix": lambda c, key: [("Authorization", "Bearer " + key + "x")],
    "key-without-scheme": lambda c, key: [("Authorization", key)],
    "garbage": lambda c, key: [("Authorization", "!@#$%^&*()<>\\\"'{}|")],
    "control-characters": lambda c, key: [("Authorization", "Bearer \x01\x02\x7f")],
    "non-ascii-utf8": lambda c, key: [("Authorization", "Bearer ключ-🔑".encode("utf-8"))],
    "latin1-bytes": lambda c, key: [("Authorization", b"Bearer \xff\xfe\xe9")],
    "8-kib": lambda c, key: [("Authorization", "Bearer " + "A" * 8192)],
    "oversized-64-kib": lambda c, key: [("Authorization", "Bearer " + "A" * 65536)],
    "duplicate-valid-first": lambda c, key: [("Authorization", "Bearer " + key), ("Authorization", "Bearer garbage")],
    "duplicate-garbage-first": lambda c, key: [("Authorization", "Bearer garbage"), ("Authorization", "Bearer " + key)],
}


def auth_case(path, name, headers_of):
    def build(c):
        if path in ENVELOPED:
            key = c.client(path).api_key
            req = c.enveloped(path, headers=headers_of(c, key))
            accepted = [UNAUTHORIZED]
        elif path == REFRESH:
            key = c.op.dev.api_key
            req = Req("POST", path, c.identity["refresh_token"].encode(), headers_of(c, key))
            accepted = [OK]            # optional auth: an unusable key makes the caller unauthenticated, no more
        elif path == CSTG:
            key = c.op.dev.api_key
            req = c.cstg_req(c.cstg_request(), headers=[("Origin", ORIGIN)] + headers_of(c, key))
            accepted = [OK]            # no API key involved
        else:
            key = c.op.dev.api_key
            req = Req("GET", path, None, headers_of(c, key))
            accepted = [OK]
        if name.startswith("duplicate"):
            accepted = [OK, UNAUTHORIZED]
        if name == "control-characters":
            accepted = accepted + [Expect(400)]   # may be refused by the HTTP parser, before any handler
            accepted = accepted + [Expect(431)]
        return req, accepted
    add(path, f"authorization-{name}", build)


for _path in list(ENVELOPED) + [REFRESH, CSTG, HEALTHCHECK]:
    for _name, _headers in AUTH_HEADERS.items():
        auth_case(_path, _name, _headers)


# ---- /ops/healthcheck

add(HEALTHCHECK, "control", lambda c: (Req("GET", HEALTHCHECK), [OK]))
add(HEALTHCHECK, "get-with-body", lambda c: (Req("GET", HEALTHCHECK, os.urandom(1000)), [OK]))
add(HEALTHCHECK, "query-garbage", lambda c: (Req("GET", HEALTHCHECK + "?%zz=%%&%ff"), [OK, client_error(), Expect(400)]))
add(HEALTHCHECK, "post-empty", lambda c: (Req("POST", HEALTHCHECK, b""), [Expect(405, ANY_STATUS)]))
add(HEALTHCHECK, "post-over-1mib", lambda c: (Req("POST", HEALTHCHECK, b"A" * (1024 * 1024 + 1)),
                                              [Expect(405, ANY_STATUS), TOO_LARGE]))
add(HEALTHCHECK, "content-type-garbage", lambda c: (Req("GET", HEALTHCHECK, None, [("Content-Type", "x/\xff;;=")]), [OK]))
add(HEALTHCHECK, "header-control-characters", lambda c: (Req("GET", HEALTHCHECK, None, [("X-Junk", "\x01\x02")]),
                                                         [OK, Expect(400)]))


# ---- broken HTTP framing, sent as raw bytes: the HTTP layer's 4xx, or at worst a closed connection

FRAMING_ERRORS = [Expect(code) for code in (400, 404, 405, 408, 411, 413, 414, 431)]
FRAMING = {
    "content-length-negative": (b"Content-Length: -1\r\n", b"abc"),
    "content-length-not-a-number": (b"Content-Length: abc\r\n", b"abc"),
    "content-length-beyond-int64": (b"Content-Length: 99999999999999999999999\r\n", b"abc"),
    "content-length-twice-differing": (b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"),
    "content-length-and-chunked": (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
    "chunk-size-not-hex": (b"Transfer-Encoding: chunked\r\n", b"ZZZ\r\nabc\r\n0\r\n\r\n"),
    "chunk-size-beyond-int64": (b"Transfer-Encoding: chunked\r\n", b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
    "transfer-encoding-unknown": (b"Transfer-Encoding: gzip, foo\r\n", b"abc"),
    "header-without-colon": (b"Junk header line\r\n", b""),
    "header-name-not-ascii": (b"\xff\xfe: x\r\n", b""),
    "header-folded": (b"X-A: b\r\n c\r\n", b""),
    "many-headers": (b"".join(b"X-%d: v\r\n" % i for i in range(5_000)), b""),
}


def framing_case(path, name, extra_headers, body):
    def build(c):
        auth = b"Authorization: Bearer " + c.op.dev.api_key.encode() + b"\r\n"
        raw = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + auth
               + extra_headers + b"\r\n" + body)
        return Req("POST", path, raw=raw), FRAMING_ERRORS
    add(path, f"http-{name}", build)


for _path in (GENERATE, REFRESH, CSTG):
    for _name, (_headers, _body) in FRAMING.items():
        framing_case(_path, _name, _headers, _body)
for _name, _raw in {"request-line-garbage": b"\x00\x01\x02 garbage\r\n\r\n",
                    "http-version-unknown": b"GET /ops/healthcheck HTTP/9.9\r\nHost: x\r\n\r\n",
                    "method-unknown": b"FOO /ops/healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    "url-100-kib": b"GET /ops/healthcheck?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    "url-not-ascii": b"GET /ops/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}.items():
    add(HEALTHCHECK, f"http-{_name}", lambda c, r=_raw: (Req("GET", HEALTHCHECK, raw=r), FRAMING_ERRORS))


# ---------------------------------------------------------------- running a case

# The operator may cap the bodies of its two unauthenticated endpoints far below 1 MiB (a refresh token is
# 388 characters, a client-side request a few hundred bytes); above these sizes a 413 is a fine answer.
UNAUTHENTICATED_BODY_CAPS = {REFRESH: 4 * 1024, CSTG: 16 * 1024}

TALLY = {"failures": [], "cases": 0, "by_status": collections.Counter(), "by_scope": collections.Counter(), "failed": 0, "deaths": 0}


class MatrixSummary:
    """Prints the matrix's counts at the end of the session, whatever the capture mode."""

    def pytest_terminal_summary(self, terminalreporter):
        if not TALLY["cases"]:
            return
        tr = terminalreporter
        tr.section("malformed-input matrix")
        by_status = ", ".join(f"{code or 'no answer'}: {n}" for code, n in sorted(TALLY["by_status"].items()))
        scopes = ", ".join(f"{s}: {n}" for s, n in sorted(TALLY["by_scope"].items()))
        tr.write_line(f"cases run: {TALLY['cases']} ({scopes}); failed: {TALLY['failed']}; "
                      f"process deaths: {TALLY['deaths']}")
        tr.write_line(f"by HTTP status: {by_status}")
        fives = sum(n for code, n in TALLY["by_status"].items() if code >= 500)
        tr.write_line(f"5xx answers: {fives}")
        shown = TALLY["failures"][:120]
        for line in shown:
            tr.write_line(f"  failing: {line}")
        if len(TALLY["failures"]) > len(shown):
            tr.write_line(f"  ... and {len(TALLY['failures']) - len(shown)} more")


@pytest.fixture(autouse=True)
def _summary(request):
    manager = request.config.pluginmanager
    if not manager.has_plugin("malformed-matrix-summary"):
        manager.register(MatrixSummary(), "malformed-matrix-summary")


def process_alive(op) -> str:
    """None when the operator is up (pid exists and /ops/healthcheck answers 200), else what is wrong."""
    if op.proc is None or op.proc.poll() is not None:
        return f"operator process exited with {None if op.proc is None else op.proc.returncode}"
    try:
        os.kill(op.proc.pid, 0)
    except OSError as e:
        return f"pid {op.proc.pid} is gone: {e}"
    r = send(op.host, op.port, Req("GET", HEALTHCHECK))
    if r.status != 200:
        return f"/ops/healthcheck after the case: {r}"
    return None


@pytest.mark.parametrize("endpoint,name,build", CASES, ids=[f"{e}:{n}" for e, n, _ in CASES])
def test_malformed_input(operator, ctx, endpoint, name, build):
    op = operator
    req, accepted = build(ctx)
    if len(req.body or b"") > UNAUTHENTICATED_BODY_CAPS.get(endpoint, 1024 * 1024):
        accepted = accepted + [TOO_LARGE]
    r = send(op.host, op.port, req)
    dead = process_alive(op)
    TALLY["cases"] += 1
    TALLY["by_status"][r.status] += 1
    TALLY["by_scope"][f"{op.scope}{'-v3' if op.identity_v3 else ''}"] += 1
    if dead:
        TALLY["deaths"] += 1
        TALLY["failed"] += 1
        TALLY["failures"].append(f"{op.scope}{'-v3' if op.identity_v3 else ''} {endpoint} {name}: process died")
        op.stop()
        with open(op.log_path, "ab") as log:
            log.write(f"\n----- restart after a crash in malformed case {endpoint} {name} -----\n".encode())
        op.start()
        pytest.fail(f"{endpoint} {name}: the operator did not survive: {dead}; answer: {r}", pytrace=False)
    ok = not isinstance(r, NoAnswer) and r.status < 500 and any(e.matches(r) for e in accepted)
    if not ok:
        TALLY["failed"] += 1
        TALLY["failures"].append(f"{op.scope}{'-v3' if op.identity_v3 else ''} {endpoint} {name}: HTTP {r.status}")
    assert not isinstance(r, NoAnswer), f"{endpoint} {name}: {r}"
    assert r.status < 500, f"{endpoint} {name}: a 5xx: {r}"
    assert ok, f"{endpoint} {name}: got {r}; expected one of: {'; '.join(str(e) for e in accepted)}"
