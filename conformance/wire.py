"""Wire helpers: v2 envelopes, raw HTTP, keys from the store, token decoding.

Token decryption goes through the SDK's own code (uid2_client.encryption.decrypt); the manual parsers below
only read fields the SDK does not expose (privacy bits, refreshed time, key ids) and the refresh envelope.
"""

import base64
import datetime as dt
import http.client as httpclient
import json
import os
import sqlite3
import time
import urllib.error
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field

from Crypto.Cipher import AES
from uid2_client import EncryptionKey, EncryptionKeysCollection, IdentityScope
from uid2_client.encryption import _decrypt_gcm, decrypt

MASTER_KEYSET_ID_FOR_SDKS = 9999999
DOCS = {"uid2": "https://unifiedid.com/docs/getting-started/gs-encryption-decryption",
        "euid": "https://euid.eu/docs/getting-started/gs-encryption-decryption"}


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------- envelopes (docs/PROTOCOL.md#request-envelope)

def gcm_encrypt(key: bytes, plaintext: bytes) -> bytes:
    cipher = AES.new(key, AES.MODE_GCM, nonce=os.urandom(12))
    ct, tag = cipher.encrypt_and_digest(plaintext)
    return cipher.nonce + ct + tag


def seal(secret: bytes, payload=None, *, ts_ms=None, nonce=None, version=1) -> tuple:
    """Binary request envelope. payload: dict (JSON-encoded), bytes (as is) or None. Returns (envelope, nonce)."""
    nonce = os.urandom(8) if nonce is None else nonce
    ts = now_ms() if ts_ms is None else ts_ms
    body = b"" if payload is None else payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return bytes([version]) + gcm_encrypt(secret, ts.to_bytes(8, "big", signed=True) + nonce + body), nonce


def open_response(secret: bytes, encrypted: bytes, nonce: bytes, window=None) -> dict:
    """Decrypt a normal response envelope; checks the echoed nonce and that the server timestamp is ~now
    (window: (t0, t1) epoch ms of a slow request; the timestamp must then lie within it, ±10 s)."""
    plain = _decrypt_gcm(encrypted, secret)
    server_ts = int.from_bytes(plain[:8], "big", signed=True)
    if window is None:
        assert abs(server_ts - now_ms()) < 10_000, f"response timestamp {server_ts} is not epoch ms near now"
    else:
        assert window[0] - 10_000 <= server_ts <= window[1] + 10_000, \
            f"response timestamp {server_ts} is not epoch ms within the request {window}"
    assert plain[8:16] == nonce, "response nonce differs from request nonce"
    return json.loads(plain[16:].decode("utf-8"))


# ---------------------------------------------------------------- raw HTTP

@dataclass
class Response:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __str__(self):
        text = self.body[:600]
        return f"HTTP {self.status} content-type={self.content_type!r} body={text!r}"


def http(method: str, url: str, body: bytes = None, headers: dict = None, timeout=60) -> Response:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def bearer(api_key: str) -> dict:
    return {"Authorization": "Bearer " + api_key}


def post_large(host: str, port: int, path: str, body: bytes, headers: dict) -> Response:
    """POST that tolerates the server answering (e.g. 413) before the whole body is sent."""
    conn = httpclient.HTTPConnection(host, port, timeout=60)
    try:
        conn.putrequest("POST", path)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(k, v)
        conn.endheaders()
        try:
            for i in range(0, len(body), 65536):
                conn.send(body[i:i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


# ---------------------------------------------------------------- the store

def db_rows(db_path, sql, args=()):
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql, args).fetchall()]


def store_keys(db_path) -> list:
    return db_rows(db_path, "SELECT k.id, k.keyset_id, s.site_id, k.created, k.activates, k.expires, k.secret "
                            "FROM keyset_keys k JOIN keysets s ON s.keyset_id = k.keyset_id ORDER BY k.id")


def key_secret(db_path, key_id: int) -> bytes:
    rows = db_rows(db_path, "SELECT secret FROM keyset_keys WHERE id = ?", (key_id,))
    assert rows, f"key {key_id} is not in keyset_keys"
    return base64.b64decode(rows[0]["secret"])


def active_key_id(db_path, keyset_id: int, at_s: float) -> int:
    """docs/PROTOCOL.md#active-key-rule: most recently activated (stable by store order) not-yet-expired key."""
    keys = db_rows(db_path, "SELECT id, activates, expires FROM keyset_keys WHERE keyset_id = ? ORDER BY id",
                   (keyset_id,))
    keys = sorted(keys, key=lambda k: k["activates"])
    for k in reversed([k for k in keys if k["activates"] <= at_s]):
        if k["expires"] > at_s:
            return k["id"]
    return None


def sdk_key_collection(db_path, scope: str, site_id=None) -> EncryptionKeysCollection:
    """The store's keys in the shape the SDK builds from /v2/key/bidstream (master keyset reported as 9999999)."""
    utc = lambda s: dt.datetime.fromtimestamp(s, tz=dt.timezone.utc)
    keys = [EncryptionKey(k["id"], k["site_id"], utc(k["created"]), utc(k["activates"]), utc(k["expires"]),
                          base64.b64decode(k["secret"]),
                          MASTER_KEYSET_ID_FOR_SDKS if k["keyset_id"] == -1 else k["keyset_id"])
            for k in store_keys(db_path)]
    return EncryptionKeysCollection(keys, IdentityScope.EUID if scope == "euid" else IdentityScope.UID2,
                                    caller_site_id=site_id, master_keyset_id=MASTER_KEYSET_ID_FOR_SDKS)


# ---------------------------------------------------------------- tokens

def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sdk_decrypt(keys: EncryptionKeysCollection, token: str):
    """Decrypt an advertising token with the SDK (raises uid2_client.EncryptionError on failure)."""
    return decrypt(token, keys)


def parse_ad_token(keys: EncryptionKeysCollection, token: str) -> dict:
    """Fields of a V4 advertising token (docs/PROTOCOL.md#advertising-token-v4) that the SDK does not expose."""
    raw = b64url_decode(token)
    master_key_id = int.from_bytes(raw[2:6], "big")
    master = _decrypt_gcm(raw[6:], keys.get(master_key_id).secret)
    site_key_id = int.from_bytes(master[29:33], "big")
    site = _decrypt_gcm(master[33:], keys.get(site_key_id).secret)
    return {
        "type_byte": raw[0], "version": raw[1], "master_key_id": master_key_id,
        "expires_ms": int.from_bytes(master[0:8], "big"), "created_ms": int.from_bytes(master[8:16], "big"),
        "operator_site_id": int.from_bytes(master[16:20], "big", signed=True), "operator_type": master[20],
        "site_key_id": site_key_id, "site_id": int.from_bytes(site[0:4], "big", signed=True),
        "publisher_id": int.from_bytes(site[4:12], "big"), "client_key_id": int.from_bytes(site[12:16], "big"),
        "privacy_bits": int.from_bytes(site[16:20], "big"),
        "established_ms": int.from_bytes(site[20:28], "big"), "refreshed_ms": int.from_bytes(site[28:36], "big"),
        "raw_uid": site[36:], "byte_length": len(raw),
    }


def open_refresh_envelope(db_path, envelope_text: str) -> dict:
    """Open the 388-char refresh envelope (4.6) and the V3 refresh token inside (4.4) with the store's keys."""
    env = base64.b64decode(envelope_text, validate=True)
    env_key_id = int.from_bytes(env[1:5], "big")
    inner = json.loads(_decrypt_gcm(env[5:], key_secret(db_path, env_key_id)))
    tok = base64.b64decode(inner["refresh_token"], validate=True)
    tok_key_id = int.from_bytes(tok[2:6], "big")
    p = _decrypt_gcm(tok[6:], key_secret(db_path, tok_key_id))
    return {
        "envelope_bytes": env, "scope_byte": env[0], "envelope_key_id": env_key_id, "inner": inner,
        "token_text": inner["refresh_token"], "token_bytes": tok, "token_type_byte": tok[0], "token_version": tok[1],
        "token_key_id": tok_key_id, "payload_len": len(p),
        "expires_ms": int.from_bytes(p[0:8], "big"), "created_ms": int.from_bytes(p[8:16], "big"),
        "operator": p[16:29], "site_id": int.from_bytes(p[29:33], "big", signed=True),
        "publisher_id": int.from_bytes(p[33:41], "big"), "client_key_id": int.from_bytes(p[41:45], "big"),
        "privacy_bits": int.from_bytes(p[45:49], "big"), "established_ms": int.from_bytes(p[49:57], "big"),
        "payload_type_byte": p[57], "flh": p[58:90],
    }


def reseal_refresh_envelope(db_path, opened: dict, new_inner: dict) -> str:
    """Re-encrypt a (modified) inner JSON with the same refresh key -> a well-formed 388-char envelope."""
    key = key_secret(db_path, opened["envelope_key_id"])
    body = json.dumps(new_inner, separators=(",", ":")).encode()
    return base64.b64encode(opened["envelope_bytes"][:5] + gcm_encrypt(key, body)).decode()
