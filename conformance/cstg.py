"""A small client for POST /v2/token/client-generate, written from the JavaScript SDK's published protocol
(uid2CstgBox / uid2CstgCrypto; docs/PROTOCOL.md#client-side-generate):

* the client makes an ephemeral P-256 key pair and runs ECDH with the server's published public key
  (`UID2-X-<env>-` / `EUID-X-<env>-` + base64 SubjectPublicKeyInfo); the raw shared secret (the 32-byte
  x-coordinate) is the AES-256-GCM key, no KDF;
* request JSON `{payload, iv, public_key, timestamp, subscription_id[, app_name]}`: payload = base64(ct ‖ tag)
  of `{"email_hash": …}` or `{"phone_hash": …}`, iv = base64 of 12 bytes, public_key = base64 SPKI of the
  client's ephemeral key, AAD = the compact JSON text `[timestamp]` or `[timestamp,"app_name"]`;
* response (HTTP 200) = base64 of IV(12) ‖ ct ‖ tag under the same shared secret, plaintext JSON without
  timestamp or nonce.
"""

import base64
import json
import os
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PATH = "/v2/token/client-generate"
PREFIX_LEN = 9  # "UID2-X-T-", "EUID-X-L-", "UID2-Y-L-", ...


def load_public_key(text: str):
    """A base64 SPKI P-256 public key, with or without the 9-character published prefix."""
    if text[:4] in ("UID2", "EUID") and text[4] == "-":
        text = text[PREFIX_LEN:]
    return serialization.load_der_public_key(base64.b64decode(text, validate=True))


def load_private_key(text: str):
    """A base64 PKCS#8 P-256 private key, with or without the 9-character prefix."""
    if text[:4] in ("UID2", "EUID") and text[4] == "-":
        text = text[PREFIX_LEN:]
    return serialization.load_der_private_key(base64.b64decode(text, validate=True), password=None)


def spki_b64(public_key) -> str:
    return base64.b64encode(public_key.public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def shared_secret(private_key, public_key) -> bytes:
    """Raw ECDH output (x-coordinate, 32 bytes), as WebCrypto deriveKey(ECDH → AES-GCM 256) uses it."""
    return private_key.exchange(ec.ECDH(), public_key)


def aad(timestamp, app_name: str = None) -> bytes:
    """JSON.stringify([timestamp]) / JSON.stringify([timestamp, appName]): compact, UTF-8."""
    items = [timestamp] if app_name is None else [timestamp, app_name]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def now_ms() -> int:
    return int(time.time() * 1000)


class CstgBox:
    """One client: an ephemeral key pair and the shared secret with one server public key."""

    def __init__(self, server_public_key: str, client_private_key=None):
        self.server_public = load_public_key(server_public_key)
        self.client_private = client_private_key or ec.generate_private_key(ec.SECP256R1())
        self.client_public_b64 = spki_b64(self.client_private.public_key())
        self.key = shared_secret(self.client_private, self.server_public)

    def encrypt(self, plaintext: bytes, additional_data: bytes, iv: bytes = None):
        iv = os.urandom(12) if iv is None else iv
        return iv, AESGCM(self.key).encrypt(iv, plaintext, additional_data)

    def request(self, subscription_id: str, identity: dict, timestamp: int = None, app_name: str = None,
                iv: bytes = None) -> dict:
        """The request JSON object for `identity` ({"email_hash": …} or {"phone_hash": …}, or any dict)."""
        ts = now_ms() if timestamp is None else timestamp
        plaintext = identity if isinstance(identity, bytes) else json.dumps(identity).encode()
        iv, ct = self.encrypt(plaintext, aad(ts, app_name), iv)
        req = {"payload": base64.b64encode(ct).decode(), "iv": base64.b64encode(iv).decode(),
               "public_key": self.client_public_b64, "timestamp": ts, "subscription_id": subscription_id}
        if app_name is not None:
            req["app_name"] = app_name
        return req

    def decrypt_response(self, body: bytes) -> dict:
        raw = base64.b64decode(body, validate=True)
        return json.loads(AESGCM(self.key).decrypt(raw[:12], raw[12:], None))


def server_open_request(server_private_key, req: dict) -> dict:
    """What the operator does with a request (for unit-testing this client against the protocol)."""
    client_public = load_public_key(req["public_key"])
    key = shared_secret(server_private_key, client_public)
    plain = AESGCM(key).decrypt(base64.b64decode(req["iv"]), base64.b64decode(req["payload"]),
                                aad(req["timestamp"], req.get("app_name")))
    return json.loads(plain)


def server_seal_response(server_private_key, client_public_b64: str, response: dict) -> bytes:
    key = shared_secret(server_private_key, load_public_key(client_public_b64))
    iv = os.urandom(12)
    return base64.b64encode(iv + AESGCM(key).encrypt(iv, json.dumps(response).encode(), None))
