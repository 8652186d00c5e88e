"""Key download endpoints (docs/PROTOCOL.md#key-distribution) with raw envelopes, and the SDK's
BidstreamClient / SharingClient working from what they download (no keys from the store)."""

import json

import pytest
from uid2_client import (BidstreamClient, IdentityMapClient, IdentityMapInput, IdentityMapV3Client,
                         IdentityMapV3Input, SharingClient, TokenGenerateInput)
from uid2_client.decryption_status import DecryptionStatus

from checks import assert_json_error, v2_call
from derive import b64
from wire import MASTER_KEYSET_ID_FOR_SDKS, db_rows

SHARING = "/v2/key/sharing"
BIDSTREAM = "/v2/key/bidstream"
LATEST = "/v2/key/latest"
DEFAULT_SHARING_LIFETIME = 2592000
CLOCK_SKEW = 1800
TOLERANCE = 10
KEY_FIELDS = {"id", "created", "activates", "expires", "secret"}
SCOPE_NAME = {"uid2": "UID2", "euid": "EUID"}


# ------------------------------------------------------------------ expectations from the store

def keysets(op) -> dict:
    return {k["keyset_id"]: k for k in db_rows(op.db_path, "SELECT * FROM keysets")}


def allowed_sites(ks):
    raw = ks["allowed_sites"]
    return None if raw is None else json.loads(raw)


def visible_keyset_ids(op, site_id: int, roles) -> set:
    """docs/PROTOCOL.md#key-distribution: master always; refresh never; else enabled and (own site,
    or ID_READER and allowed_sites null, or site listed in allowed_sites)."""
    out = set()
    for kid, ks in keysets(op).items():
        if kid == -2:
            continue
        if kid == -1:
            out.add(kid)
            continue
        allowed = allowed_sites(ks)
        if ks["enabled"] and (ks["site_id"] == site_id or ("ID_READER" in roles and allowed is None)
                              or (allowed is not None and site_id in allowed)):
            out.add(kid)
    return out


def store_keys(op):
    return db_rows(op.db_path, "SELECT id, keyset_id, created, activates, expires, secret FROM keyset_keys ORDER BY id")


def expected_keys(op, client, kind: str) -> list:
    ks = keysets(op)
    visible = visible_keyset_ids(op, client.site_id, client.roles)
    out = []
    for k in store_keys(op):
        if k["keyset_id"] not in visible:
            continue
        obj = {f: k[f] for f in ("id", "created", "activates", "expires", "secret")}
        if kind == "sharing":
            if k["keyset_id"] == -1:
                obj["keyset_id"] = MASTER_KEYSET_ID_FOR_SDKS
            elif ks[k["keyset_id"]]["site_id"] == client.site_id:
                obj["keyset_id"] = k["keyset_id"]
        elif kind == "latest":
            obj["site_id"] = ks[k["keyset_id"]]["site_id"]
        out.append(obj)
    return out


def expected_site_data(op, client) -> list:
    ks = keysets(op)
    site_ids = sorted({ks[k]["site_id"] for k in visible_keyset_ids(op, client.site_id, client.roles)})
    sites = {s["id"]: s for s in db_rows(op.db_path, "SELECT id, domain_names FROM sites")}
    out = []
    for sid in site_ids:
        if sid in sites:
            names = json.loads(sites[sid]["domain_names"] or "[]")
            if names:
                out.append({"id": sid, "domain_names": sorted(names)})
    return out


def default_keyset_id(op, site_id: int):
    rows = [k for k in keysets(op).values() if k["site_id"] == site_id and k["enabled"] and k["is_default"]]
    return rows[0]["keyset_id"] if rows else None


def call(op, path, client):
    r, resp = v2_call(op, path, None, client=client)
    assert r.status == 200, f"{path} as {client.roles} of site {client.site_id}: {r}"
    assert resp["status"] == "success" and set(resp) == {"status", "body"}, resp
    return resp["body"]


def check_key_units(keys: list):
    for k in keys:
        for f in ("created", "activates", "expires"):
            assert type(k[f]) is int and 1_000_000_000 <= k[f] < 10_000_000_000, f"{f} must be epoch seconds: {k}"
        assert type(k["id"]) is int
        assert isinstance(k["secret"], str) and len(k["secret"]) == 44, k


# ------------------------------------------------------------------ raw responses

@pytest.mark.parametrize("who", ["dev", "id_reader"])
def test_bidstream_response(operator, who):
    op = operator
    c = op.dev if who == "dev" else op.need(who)
    body = call(op, BIDSTREAM, c)
    assert set(body) == {"max_bidstream_lifetime_seconds", "identity_scope", "allow_clock_skew_seconds", "keys",
                         "site_data"}, sorted(body)
    assert body["max_bidstream_lifetime_seconds"] == op.lifetimes[0] + TOLERANCE, \
        f"max_bidstream_lifetime_seconds {body['max_bidstream_lifetime_seconds']} != identity lifetime + 10"
    assert type(body["max_bidstream_lifetime_seconds"]) is int
    assert body["identity_scope"] == SCOPE_NAME[op.scope]
    assert body["allow_clock_skew_seconds"] == CLOCK_SKEW and type(body["allow_clock_skew_seconds"]) is int
    for k in body["keys"]:
        assert set(k) == KEY_FIELDS, f"bidstream keys carry exactly {sorted(KEY_FIELDS)}: {k}"
    check_key_units(body["keys"])
    assert body["keys"] == expected_keys(op, c, "bidstream")
    assert body["site_data"] == expected_site_data(op, c)


@pytest.mark.parametrize("who", ["dev", "id_reader", "sharer"])
def test_sharing_response(operator, who):
    op = operator
    c = op.dev if who == "dev" else op.need(who)
    body = call(op, SHARING, c)
    fields = {"caller_site_id", "master_keyset_id", "default_keyset_id", "token_expiry_seconds",
              "max_sharing_lifetime_seconds", "identity_scope", "allow_clock_skew_seconds", "keys", "site_data"}
    dk = default_keyset_id(op, c.site_id)
    if dk is None:
        fields.discard("default_keyset_id")
    assert set(body) == fields, f"fields {sorted(body)} != {sorted(fields)}"
    assert body["caller_site_id"] == c.site_id
    assert body["master_keyset_id"] == MASTER_KEYSET_ID_FOR_SDKS
    if dk is not None:
        assert body["default_keyset_id"] == dk
    assert body["token_expiry_seconds"] == str(DEFAULT_SHARING_LIFETIME), \
        f"token_expiry_seconds must be the JSON string {str(DEFAULT_SHARING_LIFETIME)!r}: {body['token_expiry_seconds']!r}"
    assert body["max_sharing_lifetime_seconds"] == DEFAULT_SHARING_LIFETIME + TOLERANCE
    assert type(body["max_sharing_lifetime_seconds"]) is int
    assert body["identity_scope"] == SCOPE_NAME[op.scope]
    assert body["allow_clock_skew_seconds"] == CLOCK_SKEW
    check_key_units(body["keys"])
    assert body["keys"] == expected_keys(op, c, "sharing")
    assert body["site_data"] == expected_site_data(op, c)


def test_visibility_rules_spelled_out(operator):
    """The rules of docs/PROTOCOL.md#key-distribution on the launch data, independent of the store-derived expectations."""
    op = operator
    ks = keysets(op)
    site999_keyset = default_keyset_id(op, 999)
    assert site999_keyset is not None and allowed_sites(ks[site999_keyset]) is None, \
        f"site 999's default keyset must have allowed_sites NULL: {ks.get(site999_keyset)}"
    key_keyset = {k["id"]: k["keyset_id"] for k in store_keys(op)}
    refresh_ids = {i for i, s in key_keyset.items() if s == -2}
    master_ids = {i for i, s in key_keyset.items() if s == -1}
    site999_ids = {i for i, s in key_keyset.items() if s == site999_keyset}
    assert refresh_ids and master_ids and site999_ids

    reader, sharer = op.need("id_reader"), op.need("sharer")
    for path in (BIDSTREAM, SHARING):
        ids = {k["id"] for k in call(op, path, reader)["keys"]}
        assert master_ids <= ids, f"{path}: an ID_READER must get the master keys"
        assert site999_ids <= ids, f"{path}: an ID_READER of site {reader.site_id} must see site 999's keyset " \
                                   f"(allowed_sites null)"
        assert not refresh_ids & ids, f"{path}: refresh keys must never be published"
    sharing = call(op, SHARING, sharer)
    ids = {k["id"] for k in sharing["keys"]}
    assert master_ids <= ids
    assert not site999_ids & ids, "a SHARER-only client of another site must not see site 999's keyset"
    assert not refresh_ids & ids
    own = default_keyset_id(op, sharer.site_id)
    for k in sharing["keys"]:
        if k["id"] in master_ids:
            assert k.get("keyset_id") == MASTER_KEYSET_ID_FOR_SDKS, k
        elif key_keyset[k["id"]] == own:
            assert k.get("keyset_id") == own, k
        else:
            assert "keyset_id" not in k, k
    for k in call(op, SHARING, reader)["keys"]:
        if k["id"] in site999_ids:
            assert "keyset_id" not in k, f"keyset_id only on the caller's own and the master keys: {k}"
    site_data = call(op, BIDSTREAM, reader)["site_data"]
    assert {"id": 999, "domain_names": sorted(["example.org", "example.com", "localhost"])} in site_data, site_data
    assert all(set(s) == {"id", "domain_names"} and s["domain_names"] for s in site_data), site_data
    assert [s["id"] for s in site_data] == sorted(s["id"] for s in site_data)
    mobile = op.need_site("mobile")
    assert mobile["id"] not in [s["id"] for s in site_data], "a site with app names only has no site_data entry"


def test_key_latest(operator):
    op = operator
    reader = op.need("id_reader")
    r, resp = v2_call(op, LATEST, None, client=reader)
    assert r.status == 200, str(r)
    assert resp["status"] == "success"
    body = resp["body"]
    assert isinstance(body, list)
    for k in body:
        assert set(k) == KEY_FIELDS | {"site_id"}, k
    check_key_units(body)
    assert body == expected_keys(op, reader, "latest")


@pytest.mark.parametrize("path,who", [(BIDSTREAM, "sharer"), (LATEST, "sharer"), (SHARING, "mapper"),
                                      (BIDSTREAM, "mapper"), (SHARING, "other_site")])
def test_key_endpoints_roles(operator, path, who):
    op = operator
    c = op.need(who)
    r, _ = v2_call(op, path, None, client=c)
    assert_json_error(r, 401, {"status": "unauthorized"})


# ------------------------------------------------------------------ SDK clients on downloaded keys

def sdk_bidstream(op, client):
    bc = BidstreamClient(op.base_url, client.api_key, client.secret_b64)
    res = bc.refresh()
    assert res.success, f"BidstreamClient.refresh() failed: {res.reason}"
    return bc


def sdk_sharing(op, client):
    sc = SharingClient(op.base_url, client.api_key, client.secret_b64)
    res = sc.refresh()
    assert res.success, f"SharingClient.refresh() failed: {res.reason}"
    return sc


@pytest.mark.parametrize("kind,value", [("email", "bid.stream@example.com"), ("phone", "+14155550177")])
def test_bidstream_client_uid_equals_identity_map(operator, publisher, kind, value):
    op = operator
    make = TokenGenerateInput.from_email if kind == "email" else TokenGenerateInput.from_phone
    gen = publisher.generate_token(make(value))
    assert gen.is_success(), gen.status
    token = gen.get_identity().get_advertising_token()

    bc = sdk_bidstream(op, op.need("id_reader"))
    d = bc.decrypt_token_into_raw_uid(token, "example.com")
    assert d.status == DecryptionStatus.SUCCESS, f"BidstreamClient: {d.status}"
    assert d.site_id == op.dev.site_id

    mapper = op.mapper or op.dev
    v3in = IdentityMapV3Input.from_emails([value]) if kind == "email" else IdentityMapV3Input.from_phones([value])
    v3 = IdentityMapV3Client(op.base_url, mapper.api_key, mapper.secret_b64).generate_identity_map(v3in)
    v2in = IdentityMapInput.from_emails([value]) if kind == "email" else IdentityMapInput.from_phones([value])
    v2 = IdentityMapClient(op.base_url, mapper.api_key, mapper.secret_b64).generate_identity_map(v2in)
    derived = b64(op.salts.derive(kind, value, op.scope, op.identity_v3).raw_uid)
    assert v3.mapped_identities[value].current_raw_uid == d.uid == derived, \
        (v3.mapped_identities[value].current_raw_uid, d.uid, derived)
    assert v2.mapped_identities[value].get_raw_uid() == d.uid


def test_bidstream_client_from_dev_site_also_decrypts(operator, publisher):
    gen = publisher.generate_token(TokenGenerateInput.from_email("own.site@example.com"))
    d = sdk_bidstream(operator, operator.dev).decrypt_token_into_raw_uid(gen.get_identity().get_advertising_token(),
                                                                         "example.com")
    assert d.status == DecryptionStatus.SUCCESS, d.status
    assert d.uid == b64(operator.salts.derive("email", "own.site@example.com", operator.scope,
                                              operator.identity_v3).raw_uid)


def test_sharing_client_round_trip_and_decrypts_advertising_tokens(operator, publisher):
    op = operator
    sc = sdk_sharing(op, op.dev)
    uid = b64(op.salts.derive("email", "shared.user@example.com", op.scope, op.identity_v3).raw_uid)
    enc = sc.encrypt_raw_uid_into_token(uid)
    assert enc.success, f"SharingClient.encrypt_raw_uid_into_token: {enc.status}"
    dec = sc.decrypt_token_into_raw_uid(enc.encrypted_data)
    assert dec.status == DecryptionStatus.SUCCESS and dec.uid == uid, (dec.status, dec.uid)
    assert dec.site_id == op.dev.site_id

    gen = publisher.generate_token(TokenGenerateInput.from_email("shared.user@example.com"))
    d = sc.decrypt_token_into_raw_uid(gen.get_identity().get_advertising_token())
    assert d.status == DecryptionStatus.SUCCESS, d.status
    assert d.uid == uid


def test_sharing_between_sites(operator):
    """A SHARER-only site encrypts with its own default keyset; an ID_READER of another site (allowed_sites null)
    decrypts it; the sharer decrypts its own token."""
    op = operator
    sharer, reader = op.need("sharer"), op.need("id_reader")
    uid = b64(op.salts.derive("email", "cross.site@example.com", op.scope, op.identity_v3).raw_uid)
    sc = sdk_sharing(op, sharer)
    enc = sc.encrypt_raw_uid_into_token(uid)
    assert enc.success, enc.status
    assert sc.decrypt_token_into_raw_uid(enc.encrypted_data).uid == uid
    d = sdk_sharing(op, reader).decrypt_token_into_raw_uid(enc.encrypted_data)
    assert d.status == DecryptionStatus.SUCCESS and d.uid == uid and d.site_id == sharer.site_id, (d.status, d.uid)


def test_sdk_reads_lifetimes_from_key_responses(operator):
    op = operator
    bc = sdk_bidstream(op, op.need("id_reader"))
    assert bc._keys.get_max_bidstream_lifetime_seconds() == op.lifetimes[0] + TOLERANCE
    assert bc._keys.get_allow_clock_skew_seconds() == CLOCK_SKEW
    sc = sdk_sharing(op, op.dev)
    assert sc._keys.get_max_sharing_lifetime_seconds() == DEFAULT_SHARING_LIFETIME + TOLERANCE
    assert int(sc._keys.get_token_expiry_seconds()) == DEFAULT_SHARING_LIFETIME
    assert sc._keys.get_caller_site_id() == op.dev.site_id
    assert sc._keys.get_master_keyset_id() == MASTER_KEYSET_ID_FOR_SDKS
