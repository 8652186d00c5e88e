"""A small core data set in the reference's layout (the folders `uid-operator import core` reads), written by the
suite itself, so tests that need a store in seconds (not 1,048,576 seeded salt buckets) need nothing outside the
repository. The layout: one folder per store with a `metadata.json` naming its data file; salts as CSV lines
`id,last_updated_ms,current_salt,refresh_from_ms,previous_salt,…`. API keys are stored as base64(SHA-512(salt ‖ key)),
as the reference does."""

import base64
import hashlib
import json
import secrets
import string
import time
from pathlib import Path

from operator_proc import Client

SITE_ID = 999


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _write_store(root: Path, folder: str, metadata_key: str, entries: list):
    (root / folder).mkdir(parents=True)
    (root / folder / f"{folder}.json").write_text(json.dumps(entries, indent=2))
    (root / folder / "metadata.json").write_text(json.dumps(
        {"version": 1, "generated": int(time.time()), metadata_key: {"location": f"/{folder}/{folder}.json"}}))


def new_api_key(scope: str = "uid2", site_id: int = SITE_ID) -> tuple:
    """(key, key_id) in the operator's format: `<SCOPE>-C-T-<site>-<6 chars>.<38 chars>`."""
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))
    prefix = f"{scope.upper()}-C-T-{site_id}-"
    return f"{prefix}{head}.{_b64(secrets.token_bytes(30))[:38]}", prefix + head[:5]


def write_core(root: Path, scope: str = "uid2", bucket_count: int = 64) -> Client:
    """Writes a complete small data set into `root` (which must not exist) and returns its all-roles client."""
    now = int(time.time())
    roles = ["GENERATOR", "MAPPER", "ID_READER", "SHARER", "OPTOUT"]
    key, key_id = new_api_key(scope)
    salt = secrets.token_bytes(32)
    secret = _b64(secrets.token_bytes(32))
    root.mkdir(parents=True)
    _write_store(root, "sites", "sites", [{"id": SITE_ID, "name": "Test site", "enabled": True, "created": now}])
    _write_store(root, "clients", "client_keys", [{
        "key_id": key_id, "key_hash": _b64(hashlib.sha512(salt + key.encode()).digest()), "key_salt": _b64(salt),
        "secret": secret, "name": "All roles", "contact": "test", "created": now, "roles": roles, "disabled": False,
        "site_id": SITE_ID}])
    keysets = [(-1, -1, "Master keyset"), (-2, -2, "Refresh keyset"), (2, 2, "Fallback publisher keyset"),
               (3, SITE_ID, "Site keyset")]
    _write_store(root, "keysets", "keysets", [
        {"keyset_id": keyset_id, "site_id": site_id, "name": name, "allowed_sites": None, "created": now,
         "enabled": True, "default": True} for keyset_id, site_id, name in keysets])
    _write_store(root, "keyset_keys", "keyset_keys", [
        {"id": index + 1, "keyset_id": keyset_id, "created": now - 60, "activates": now - 60,
         "expires": now + 30 * 86400, "secret": _b64(secrets.token_bytes(32))}
        for index, (keyset_id, _, _) in enumerate(keysets)])
    _write_store(root, "client_side_keypairs", "client_side_keypairs", [])
    (root / "salts").mkdir()
    now_ms = now * 1000
    lines = [f"{i + 1},{now_ms},{_b64(secrets.token_bytes(32))},{now_ms + 30 * 86_400_000},,,,,,,"
             for i in range(bucket_count)]
    (root / "salts" / f"salts.txt.{now_ms}").write_text("\n".join(lines) + "\n")
    (root / "salts" / "metadata.json").write_text(json.dumps({
        "version": 1, "generated": now, "first_level": _b64(secrets.token_bytes(32)), "id_prefix": "b",
        "id_secret": _b64(secrets.token_bytes(32)),
        "salts": [{"effective": now_ms, "location": f"/salts/salts.txt.{now_ms}", "size": bucket_count}]}))
    return Client(key, secret, SITE_ID, roles)
