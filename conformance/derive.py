"""Independent Python derivation of UID2/EUID identities (docs/PROTOCOL.md#hashing-chain).

Written from docs/PROTOCOL.md, not from the Swift code, so the conformance suite can check the server's raw UIDs.
Nothing here talks to the server; `StoreSalts` only reads the SQLite store read-only.
"""

import base64
import datetime as dt
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
    """Operator email normalization (docs/PROTOCOL.md#email-normalization). Returns None when invalid."""
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
    """docs/PROTOCOL.md#phone-validation: '+' then 10..15 ASCII digits, nothing else."""
    return phone is not None and _PHONE.fullmatch(phone) is not None


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def normalize_hash_input(value: str):
    """docs/PROTOCOL.md#hashed-inputs: 44-char base64 kept as is; 64 hex chars re-encoded as base64; else None."""
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
    """docs/PROTOCOL.md#raw-uid-v4."""
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


DAY_MS = 86_400_000
PREVIOUS_UID_DAYS = 90


def bucket_id_text(id_prefix: str, id_secret: str, entry_id: int) -> str:
    """docs/PROTOCOL.md#bucket-ids: id_prefix + Hashids(salt=id_secret, min_length=9, default alphabet).encode(id)."""
    from hashids import Hashids  # hashids==1.3.1, imported lazily so the other helpers need no extra package
    return id_prefix + Hashids(salt=id_secret, min_length=9).encode(entry_id)


def refresh_from_ms(entry: dict, as_of_ms: int) -> int:
    """The entry's refresh_from if >= asOf, else the next UTC midnight (docs/PROTOCOL.md#previous-uid-and-refresh_from)."""
    if entry["refresh_from"] >= as_of_ms:
        return entry["refresh_from"]
    return (as_of_ms // DAY_MS + 1) * DAY_MS


def _uid_from(flh: bytes, salt, key_id, key, key_salt, scope: str, id_type: str, identity_v3: bool, env: str):
    if salt:
        return raw_uid_v3(flh, salt, scope, id_type) if identity_v3 else raw_uid_v2(flh, salt)
    if key_id is not None and key and key_salt:
        return raw_uid_v4(flh, key_id, key, key_salt, scope, id_type, env)
    return None


def previous_raw_uid(flh: bytes, entry: dict, as_of_ms: int, scope: str, id_type: str, identity_v3: bool,
                     env: str = "test"):
    """docs/PROTOCOL.md#previous-uid-and-refresh_from: previous raw UID only within 90 days of last_updated
    and when previous material exists."""
    if (as_of_ms - entry["last_updated"]) // DAY_MS >= PREVIOUS_UID_DAYS:
        return None
    if entry.get("previous_salt"):
        return _uid_from(flh, entry["previous_salt"], None, None, None, scope, id_type, identity_v3, env)
    return _uid_from(flh, None, entry.get("previous_key_id"), entry.get("previous_key"),
                     entry.get("previous_key_salt"), scope, id_type, identity_v3, env)


def iso_local_ms(epoch_ms: int) -> str:
    """`yyyy-MM-ddTHH:mm:ss.SSS` in UTC without zone (docs/PROTOCOL.md#identity-buckets)."""
    t = dt.datetime.fromtimestamp(epoch_ms // 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{epoch_ms % 1000:03d}"


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
            self.first_level, self.id_prefix, self.id_secret = db.execute(
                "SELECT first_level, id_prefix, id_secret FROM salt_metadata WHERE id = 1").fetchone()
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

    def mapping(self, kind: str, value: str, scope: str, identity_v3: bool, as_of_ms: int) -> dict:
        """What the identity map endpoints must answer for one identity at time as_of_ms (epoch ms)."""
        d = self.derive(kind, value, scope, identity_v3)
        entry = self.bucket(d.bucket_index)
        prev = previous_raw_uid(d.first_level_hash, entry, as_of_ms, scope, identity_type_of(kind), identity_v3,
                                self.environment)
        return {"derived": d, "entry": entry, "u": b64(d.raw_uid), "p": None if prev is None else b64(prev),
                "r": refresh_from_ms(entry, as_of_ms) // 1000,
                "bucket_id": bucket_id_text(self.id_prefix, self.id_secret, entry["id"])}
