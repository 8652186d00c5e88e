"""Independent Python derivation of UID2/EUID identities (PROTOCOL.md section 3).

Written from the spec, not from the Swift code, so the conformance suite can check the server's raw UIDs.
Nothing here talks to the server; `StoreSalts` only reads the SQLite store read-only.
"""

import base64
import hashlib
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass

from Crypto.Cipher import AES

SCOPES = {"uid2": 0, "euid": 1}
TYPES = {"email": 0, "phone": 1}
ENVIRONMENTS = {"test": 0, "integ": 1, "prod": 2}
FULL_BUCKET_COUNT = 1 << 20


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256(data) -> bytes:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).digest()


def normalize_email(email: str):
    """Operator email normalization (PROTOCOL 3.1). Returns None when invalid."""
    plain, gmail, domain, pending_spaces = [], [], [], []
    in_domain = in_extension = False
    for ch in email:
        c = chr(ord(ch) + 32) if "A" <= ch <= "Z" else ch
        if not in_domain:
            if c == " ":
                continue
            if c == "@":
                in_domain = True
                continue
            plain.append(c)
            if c == "+":
                in_extension = True
            elif c != "." and not in_extension:
                gmail.append(c)
        else:
            if c == "@":
                return None
            if c == " ":
                pending_spaces.append(c)
                continue
            domain.extend(pending_spaces)
            pending_spaces = []
            domain.append(c)
    domain_str = "".join(domain)
    if not domain_str:
        return None
    local = gmail if domain_str == "gmail.com" else plain
    if not local:
        return None
    return "".join(local) + "@" + domain_str


_PHONE = re.compile(r"\+[0-9]{10,15}", re.ASCII)


def is_valid_phone(phone: str) -> bool:
    """PROTOCOL 3.2: '+' then 10..15 ASCII digits, nothing else."""
    return phone is not None and _PHONE.fullmatch(phone) is not None


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def normalize_hash_input(value: str):
    """PROTOCOL 3.3: 44-char base64 kept as is; 64 hex chars re-encoded as base64; else None."""
    if value is None:
        return None
    if len(value) == 44:
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            return None
        return value
    if _HEX64.fullmatch(value):
        return b64(bytes.fromhex(value))
    return None


def identity_hash(kind: str, value: str) -> bytes:
    """H for one of the four request fields: email, phone, email_hash, phone_hash."""
    if kind == "email":
        normalized = normalize_email(value)
        if normalized is None:
            raise ValueError(f"invalid email {value!r}")
        return sha256(normalized)
    if kind == "phone":
        if not is_valid_phone(value):
            raise ValueError(f"invalid phone {value!r}")
        return sha256(value)
    if kind in ("email_hash", "phone_hash"):
        normalized = normalize_hash_input(value)
        if normalized is None:
            raise ValueError(f"invalid hash {value!r}")
        return base64.b64decode(normalized + "=" * (-len(normalized) % 4))
    raise ValueError(kind)


def identity_type_of(kind: str) -> str:
    return "phone" if kind.startswith("phone") else "email"


def first_level_hash(h: bytes, first_level_salt: str) -> bytes:
    return sha256(b64(h) + first_level_salt)


def bucket_index(flh: bytes, count: int = FULL_BUCKET_COUNT) -> int:
    idx = (flh[0] << 12) | (flh[1] << 4) | (flh[2] & 0x0F)
    return idx if count == FULL_BUCKET_COUNT else idx % count


def raw_uid_v2(flh: bytes, salt: str) -> bytes:
    return sha256(b64(flh) + salt)


def raw_uid_v3(flh: bytes, salt: str, scope: str, id_type: str) -> bytes:
    prefix = (SCOPES[scope] << 4) | (TYPES[id_type] << 2)
    return bytes([prefix]) + raw_uid_v2(flh, salt)


def raw_uid_v4(flh: bytes, key_id: int, key: str, key_salt: str, scope: str, id_type: str, env: str) -> bytes:
    """PROTOCOL 3.6."""
    metadata = bytes([(ENVIRONMENTS[env] << 6) | (1 << 5) | (SCOPES[scope] << 4) | (TYPES[id_type] << 2)])
    kid3 = (key_id & 0xFFFFFF).to_bytes(3, "big")
    l16 = flh[16:]
    iv = sha256(key_salt.encode("utf-8") + l16 + metadata + kid3)[:12]
    enc = AES.new(key.encode("utf-8"), AES.MODE_CTR, nonce=iv, initial_value=0).encrypt(l16)
    body = metadata + kid3 + iv + enc
    checksum = 0
    for byte in body:
        checksum ^= byte
    return body + bytes([checksum])


@dataclass
class Derived:
    identity_hash: bytes
    first_level_hash: bytes
    bucket_index: int
    raw_uid: bytes


class StoreSalts:
    """Salts read from the operator's SQLite store (read-only)."""

    def __init__(self, db_path, environment: str = "test"):
        self.db_path = str(db_path)
        self.environment = environment
        with self._connect() as db:
            self.first_level = db.execute("SELECT first_level FROM salt_metadata WHERE id = 1").fetchone()[0]
            self.count = db.execute("SELECT COUNT(*) FROM salt_buckets").fetchone()[0]

    def _connect(self):
        return closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10))

    def bucket(self, position: int) -> dict:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM salt_buckets WHERE position = ?", (position,)).fetchone()
        if row is None:
            raise LookupError(f"no salt bucket at position {position}")
        return dict(row)

    def derive(self, kind: str, value: str, scope: str, identity_v3: bool = False) -> Derived:
        h = identity_hash(kind, value)
        flh = first_level_hash(h, self.first_level)
        idx = bucket_index(flh, self.count)
        entry = self.bucket(idx)
        id_type = identity_type_of(kind)
        if entry["current_salt"]:
            uid = raw_uid_v3(flh, entry["current_salt"], scope, id_type) if identity_v3 \
                else raw_uid_v2(flh, entry["current_salt"])
        else:
            uid = raw_uid_v4(flh, entry["current_key_id"], entry["current_key"], entry["current_key_salt"],
                             scope, id_type, self.environment)
        return Derived(h, flh, idx, uid)
