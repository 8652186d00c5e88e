"""Building blocks of the malformed-input matrix (test_malformed_matrix.py): a raw HTTP sender that can send what
urllib refuses to (duplicate, oversized and non-ASCII headers) and reports a dropped connection instead of raising,
what an acceptable answer looks like, and forged tokens and envelopes.

Forging needs secrets: the refresh key is read from the store (to build well-formed tokens whose only fault is the
one under test); master and site keys are taken from /v2/key/bidstream and /v2/key/sharing answers, as any DSP or
sharer receives them.
"""

import base64
import http.client as httpclient
import json
import os
import socket
from dataclasses import dataclass, field

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad

from wire import Response, gcm_encrypt, now_ms

REQUEST_TIMEOUT_S = 30
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
REFRESH_INNER_JSON_LEN = 258     # inner JSON of a 388-character refresh envelope (PROTOCOL 4.6)
REFRESH_CUTOFF_MS = 1_615_222_800_000
ANY_STATUS = "*"


# ---------------------------------------------------------------- sending

@dataclass
class Req:
    method: str
    path: str
    body: bytes = None
    headers: list = field(default_factory=list)   # (name, str | bytes) pairs; a name may repeat
    raw: bytes = None     # sent as is instead (broken HTTP framing); the sending side is then shut down


@dataclass
class NoAnswer:
    """The connection ended without an HTTP answer (the process may have died)."""
    error: str
    status: int = 0

    def __str__(self):
        return f"no HTTP answer: {self.error}"


def send(host: str, port: int, req: Req):
    """One request on a fresh connection. Returns wire.Response, or NoAnswer when no response came back."""
    if req.raw is not None:
        return send_raw(host, port, req.raw)
    conn = httpclient.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.putrequest(req.method, req.path, skip_accept_encoding=True)
        for name, value in req.headers:
            conn.putheader(name, value)
        if req.body is not None:
            conn.putheader("Content-Length", str(len(req.body)))
        conn.endheaders()
        if req.body:
            try:
                for i in range(0, len(req.body), 65536):
                    conn.send(req.body[i:i + 65536])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer (413) before reading everything
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    except (OSError, httpclient.HTTPException) as e:
        return NoAnswer(f"{type(e).__name__}: {e}")
    finally:
        conn.close()


def send_raw(host: str, port: int, data: bytes):
    """Bytes that are not a well-formed HTTP request; the first answer on the connection, if any. A reset after
    the answer is fine (the server may close a connection it cannot parse further)."""
    received = b""
    error = None
    try:
        with socket.create_connection((host, port), timeout=REQUEST_TIMEOUT_S) as sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass
            while chunk := sock.recv(65536):
                received += chunk
    except OSError as e:
        error = f"{type(e).__name__}: {e}"
    answer = parse_first_answer(received)
    if answer is None:
        return NoAnswer(error or f"connection closed after {len(received)} bytes without an HTTP answer")
    return answer


def received_is_answer(data: bytes) -> bool:
    return data.startswith(b"HTTP/") and b"\r\n\r\n" in data


def parse_first_answer(data: bytes):
    if not received_is_answer(data):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)) or 0)
    return Response(status, headers, body[:length])


# ---------------------------------------------------------------- expectations

@dataclass(frozen=True)
class Expect:
    """One acceptable answer: HTTP status, and for JSON answers the `status` string and (optionally) message."""
    http: int
    status: str = None          # JSON "status"; None: the body is not checked (200s are encrypted)
    messages: tuple = None      # acceptable exact messages; None: any message
    plain_text: bool = False    # 413: plain text "Request Entity Too Large"

    def matches(self, r) -> bool:
        if r.status != self.http:
            return False
        if self.plain_text:
            return r.body == b"Request Entity Too Large"
        if self.status is None:
            return True
        if r.content_type.split(";")[0].strip().lower() != "application/json":
            return False
        try:
            body = r.json()
        except ValueError:
            return False
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            return False
        if self.status != ANY_STATUS and body["status"] != self.status:
            return False
        return self.messages is None or body.get("message") in self.messages

    def __str__(self):
        if self.plain_text:
            return f"{self.http} text"
        text = f"{self.http} {self.status or ''}".strip()
        if self.messages:
            text += " " + " | ".join(repr(m) for m in self.messages)
        return text


def client_error(*messages) -> Expect:
    return Expect(400, "client_error", tuple(messages) or None)


OK = Expect(200)
UNAUTHORIZED = Expect(401, "unauthorized")
TOO_LARGE = Expect(413, plain_text=True)
HEADERS_TOO_LARGE = Expect(431)
INVALID_TOKEN = Expect(400, "invalid_token", ("Invalid Token presented",))
REFRESH_ERROR = Expect(400, "error", ("Error refreshing token",))


# ---------------------------------------------------------------- bytes and base64

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


def put_be(data: bytes, offset: int, value: int, size: int, signed=True) -> bytes:
    out = bytearray(data)
    out[offset:offset + size] = value.to_bytes(size, "big", signed=signed)
    return bytes(out)


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# ---------------------------------------------------------------- forging tokens

def refresh_token_v3(key_id: int, key: bytes, *, scope_bit: int, type_bits: int = 0, site_id: int,
                     flh: bytes = None, expires_ms: int = None, created_ms: int = None, established_ms: int = None,
                     privacy_bits: int = 1, header_byte: int = None, payload_type_byte: int = None) -> bytes:
    """A V3 refresh token (PROTOCOL 4.4) sealed under `key`; every field can be chosen."""
    now = now_ms()
    type_byte = (scope_bit << 4) | (type_bits << 2) | 3
    payload = b"".join([
        (now + 86_400_000 if expires_ms is None else expires_ms).to_bytes(8, "big", signed=True),
        (now if created_ms is None else created_ms).to_bytes(8, "big", signed=True),
        bytes(4) + b"\x01" + bytes(8),                               # operator: site 0, Service, version 0, key 0
        site_id.to_bytes(4, "big", signed=True) + bytes(12),         # publisher: site, publisher id 0, client key 0
        privacy_bits.to_bytes(4, "big", signed=True),
        (now if established_ms is None else established_ms).to_bytes(8, "big", signed=True),
        bytes([type_byte if payload_type_byte is None else payload_type_byte]),
        os.urandom(32) if flh is None else flh,
    ])
    header = bytes([type_byte if header_byte is None else header_byte, 0x70]) + key_id.to_bytes(4, "big", signed=True)
    return header + gcm_encrypt(key, payload)


def refresh_token_v2(key_id: int, key: bytes, *, site_id: int, identity_text: bytes, identity_len: int = None,
                     expires_ms: int = None, established_ms: int = None) -> bytes:
    """A legacy V2 refresh token (PROTOCOL 4.5): the identity is base64 text whose length field can lie."""
    now = now_ms()
    valid_till = now + 86_400_000 if expires_ms is None else expires_ms
    plain = b"".join([
        site_id.to_bytes(4, "big", signed=True),
        (len(identity_text) if identity_len is None else identity_len).to_bytes(4, "big", signed=True),
        identity_text,
        (1).to_bytes(4, "big"),
        (now if established_ms is None else established_ms).to_bytes(8, "big", signed=True),
    ])
    iv = os.urandom(16)
    box = iv + AES.new(key, AES.MODE_CBC, iv=iv).encrypt(pad(plain, 16))
    return (b"\x02" + now.to_bytes(8, "big") + (valid_till - 60_000).to_bytes(8, "big", signed=True)
            + valid_till.to_bytes(8, "big", signed=True) + key_id.to_bytes(4, "big", signed=True) + box)


def refresh_envelope(key_id: int, key: bytes, inner: bytes, scope_byte: int = 0) -> str:
    """A refresh envelope around `inner` (JSON bytes), padded with spaces to the 388-character size."""
    assert len(inner) <= REFRESH_INNER_JSON_LEN, f"inner JSON of {len(inner)} bytes does not fit an envelope"
    inner = inner + b" " * (REFRESH_INNER_JSON_LEN - len(inner))
    text = b64(bytes([scope_byte]) + key_id.to_bytes(4, "big", signed=True) + gcm_encrypt(key, inner))
    assert len(text) == 388, len(text)
    return text


def refresh_inner(token_text: str, response_key: str = None) -> bytes:
    key = b64(os.urandom(32)) if response_key is None else response_key
    return json.dumps({"refresh_response_key": key, "refresh_token": token_text},
                      separators=(",", ":")).encode()


# ---------------------------------------------------------------- client-side keys

def p256_spki_prefix() -> bytes:
    """The DER header of a P-256 SubjectPublicKeyInfo (everything before the 65-byte point)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
    der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der[:-65]


def spki_of(private_key, compressed=False) -> bytes:
    from cryptography.hazmat.primitives import serialization
    pub = private_key.public_key()
    if not compressed:
        return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    # SPKI header for a 33-byte point: same algorithm identifiers, BIT STRING of 34 bytes.
    head = p256_spki_prefix()
    body = head[2:-3] + bytes([0x03, 34, 0x00]) + point
    return bytes([0x30, len(body)]) + body
