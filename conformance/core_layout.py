"""A small core data set in the reference's layout (the folders `uid-operator import core` reads), written by the
suite itself, so tests that need a store in seconds (not 1,048,576 seeded salt buckets) need nothing outside the
repository. The layout: one folder per store with a `metadata.json` naming its data file; salts as CSV lines
`id,last_updated_ms,current_salt,refresh_from_ms,previous_salt,cur_key_id,cur_key,cur_key_salt,prev_key_id,prev_key,
prev_key_salt`. API keys are stored as base64(SHA-512(salt ‖ key)), as the reference does.

`write_core` writes a complete default set; `write_core_set` writes the parts a test spells out (keysets with
`allowed_sites`, disabled or non-default keysets, keys active or not, salt buckets with key material or old previous
salts), built with `client_entry`, `keyset_entry`, `key_entry` and `salt_line`."""

import base64
import hashlib
import json
import secrets
import string
import time
from pathlib import Path

from operator_proc import Client

SITE_ID = 999
ALL_ROLES = ["GENERATOR", "MAPPER", "ID_READER", "SHARER", "OPTOUT"]
DAY_MS = 86_400_000


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


def client_entry(scope: str, site_id: int, roles: list, name: str = None) -> tuple:
    """(clients.json entry, Client) for a new API key of `site_id` with `roles`."""
    key, key_id = new_api_key(scope, site_id)
    salt = secrets.token_bytes(32)
    secret = _b64(secrets.token_bytes(32))
    entry = {"key_id": key_id, "key_hash": _b64(hashlib.sha512(salt + key.encode()).digest()), "key_salt": _b64(salt),
             "secret": secret, "name": name or f"{'+'.join(roles)} of site {site_id}", "contact": "test",
             "created": int(time.time()), "roles": roles, "disabled": False, "site_id": site_id}
    return entry, Client(key, secret, site_id, roles)


def site_entry(site_id: int, name: str = None, domain_names=()) -> dict:
    entry = {"id": site_id, "name": name or f"Site {site_id}", "enabled": True, "created": int(time.time())}
    if domain_names:
        entry["domain_names"] = list(domain_names)
    return entry


def keyset_entry(keyset_id: int, site_id: int, allowed_sites=None, enabled: bool = True, default: bool = True,
                 name: str = None) -> dict:
    return {"keyset_id": keyset_id, "site_id": site_id, "name": name or f"Keyset {keyset_id}",
            "allowed_sites": allowed_sites, "created": int(time.time()), "enabled": enabled, "default": default}


def key_entry(key_id: int, keyset_id: int, activates: int, expires: int, secret: bytes = None) -> dict:
    """A keyset key; times in epoch seconds."""
    return {"id": key_id, "keyset_id": keyset_id, "created": min(activates, int(time.time())) - 10,
            "activates": activates, "expires": expires, "secret": _b64(secret or secrets.token_bytes(32))}


def salt_line(bucket_id: int, last_updated_ms: int, refresh_from_ms: int, current_salt: str = "",
              previous_salt: str = "", current_key: tuple = None, previous_key: tuple = None) -> str:
    """One salts CSV line; `current_key` / `previous_key` are v4 key material (key id, key, key salt)."""
    cur = current_key or ("", "", "")
    prev = previous_key or ("", "", "")
    return ",".join(str(v) for v in (bucket_id, last_updated_ms, current_salt, refresh_from_ms, previous_salt,
                                      *cur, *prev))


def random_salt() -> str:
    return _b64(secrets.token_bytes(32))


def write_core_set(root: Path, *, sites: list, clients: list, keysets: list, keys: list, salt_lines: list,
                   first_level: str = None) -> dict:
    """Writes the given parts into `root` (which must not exist). Returns the salt table's header
    (`first_level`, `id_prefix`, `id_secret`) for deriving identities independently of the operator."""
    now = int(time.time())
    root.mkdir(parents=True)
    _write_store(root, "sites", "sites", sites)
    _write_store(root, "clients", "client_keys", clients)
    _write_store(root, "keysets", "keysets", keysets)
    _write_store(root, "keyset_keys", "keyset_keys", keys)
    _write_store(root, "client_side_keypairs", "client_side_keypairs", [])
    (root / "salts").mkdir()
    now_ms = now * 1000
    (root / "salts" / f"salts.txt.{now_ms}").write_text("\n".join(salt_lines) + "\n")
    header = {"first_level": first_level or random_salt(), "id_prefix": "b", "id_secret": random_salt()}
    (root / "salts" / "metadata.json").write_text(json.dumps({
        "version": 1, "generated": now, **header,
        "salts": [{"effective": now_ms, "location": f"/salts/salts.txt.{now_ms}", "size": len(salt_lines)}]}))
    return header


def operator_keysets(site_id: int = SITE_ID, site_keyset_id: int = 3) -> list:
    """Master (-1), refresh (-2), fallback publisher (2) and one site's default keyset, all open to ID readers."""
    return [keyset_entry(-1, -1, name="Master keyset"), keyset_entry(-2, -2, name="Refresh keyset"),
            keyset_entry(2, 2, name="Fallback publisher keyset"),
            keyset_entry(site_keyset_id, site_id, name="Site keyset")]


def write_core(root: Path, scope: str = "uid2", bucket_count: int = 64) -> Client:
    """Writes a complete small data set into `root` (which must not exist) and returns its all-roles client."""
    now = int(time.time())
    entry, client = client_entry(scope, SITE_ID, ALL_ROLES, "All roles")
    keysets = operator_keysets()
    keys = [key_entry(index + 1, ks["keyset_id"], now - 60, now + 30 * 86400) for index, ks in enumerate(keysets)]
    now_ms = now * 1000
    lines = [salt_line(i + 1, now_ms, now_ms + 30 * DAY_MS, random_salt()) for i in range(bucket_count)]
    write_core_set(root, sites=[site_entry(SITE_ID, "Test site")], clients=[entry], keysets=keysets, keys=keys,
                   salt_lines=lines)
    return client
