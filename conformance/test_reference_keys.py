"""POST /v2/key/latest, /v2/key/bidstream and /v2/key/sharing, plus the SDK clients that read them: the
input -> answer facts pinned by the reference operator's key-distribution tests and the Python SDK's bidstream and
sharing integration tests (REFERENCE_CASES.md), on this operator's launch data."""

import pytest
from uid2_client import BidstreamClient, SharingClient, TokenGenerateInput

from checks import BINARY, v2_call
from operator_proc import CliError, run_cli
from test_keys import (BIDSTREAM, CLOCK_SKEW, LATEST, SCOPE_NAME, SHARING, TOLERANCE, default_keyset_id,
                       expected_keys, expected_site_data, keysets, store_keys)
from wire import MASTER_KEYSET_ID_FOR_SDKS

HEADER_FIELDS_BIDSTREAM = {"identity_scope", "allow_clock_skew_seconds", "max_bidstream_lifetime_seconds"}
HEADER_FIELDS_SHARING = {"caller_site_id", "master_keyset_id", "default_keyset_id", "token_expiry_seconds",
                         "identity_scope", "allow_clock_skew_seconds", "max_sharing_lifetime_seconds"}


def call(op, path, client, content_type=None):
    r, resp = v2_call(op, path, None, client=client, content_type=content_type)
    assert r.status == 200, f"{path}: {r}"
    assert resp["status"] == "success", resp
    return resp["body"]


def refresh_key_ids(op) -> set:
    return {k["id"] for k in store_keys(op) if k["keyset_id"] == -2}


@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
def test_key_latest_answers_the_visible_keys_without_refresh_keys(operator, content_type):
    """key/latest: an ID_READER gets every key it may see, with site ids, in both envelope encodings; the refresh
    keys are never among them."""
    op = operator
    reader = op.need("id_reader")
    body = call(op, LATEST, reader, content_type)
    assert body == expected_keys(op, reader, "latest")
    assert not {k["id"] for k in body} & refresh_key_ids(op)


@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
def test_bidstream_header_fields(operator, content_type):
    """key/bidstream: besides keys and site_data, exactly identity_scope, allow_clock_skew_seconds and
    max_bidstream_lifetime_seconds (the configured identity lifetime + 10 s)."""
    op = operator
    body = call(op, BIDSTREAM, op.need("id_reader"), content_type)
    headers = {k: v for k, v in body.items() if k not in ("keys", "site_data")}
    assert headers == {"identity_scope": SCOPE_NAME[op.scope], "allow_clock_skew_seconds": CLOCK_SKEW,
                       "max_bidstream_lifetime_seconds": op.lifetimes[0] + TOLERANCE}, headers


def test_sharing_header_fields_for_a_sharer(operator):
    """key/sharing (SHARER): caller_site_id, master_keyset_id 9999999, the default keyset, token_expiry_seconds
    as a JSON string, max_sharing_lifetime_seconds, identity_scope and allow_clock_skew_seconds."""
    op = operator
    sharer = op.need("sharer")
    body = call(op, SHARING, sharer)
    assert set(body) - {"keys", "site_data"} == HEADER_FIELDS_SHARING, sorted(body)
    assert body["caller_site_id"] == sharer.site_id
    assert body["master_keyset_id"] == MASTER_KEYSET_ID_FOR_SDKS
    assert body["default_keyset_id"] == default_keyset_id(op, sharer.site_id)
    assert isinstance(body["token_expiry_seconds"], str) and int(body["token_expiry_seconds"]) > 0
    assert body["max_sharing_lifetime_seconds"] == int(body["token_expiry_seconds"]) + TOLERANCE
    assert body["identity_scope"] == SCOPE_NAME[op.scope] and body["allow_clock_skew_seconds"] == CLOCK_SKEW


def test_sharing_header_fields_for_an_id_reader(operator):
    """key/sharing (ID_READER only): the reference leaves max_sharing_lifetime_seconds out for a caller without
    SHARER; this operator always sends it, on purpose: SDKs skip their lifetime check when it is missing."""
    op = operator
    reader = op.need("id_reader")
    body = call(op, SHARING, reader)
    assert set(body) - {"keys", "site_data"} == HEADER_FIELDS_SHARING, sorted(body)
    assert body["caller_site_id"] == reader.site_id


def test_sharing_for_a_sharer_returns_master_and_own_keys_only(operator):
    """key/sharing (SHARER): the master keys (keyset_id 9999999) and the caller's own keys (their keyset id);
    never refresh keys, never keysets that do not list the caller; site_data only for sites with domain names."""
    op = operator
    sharer = op.need("sharer")
    body = call(op, SHARING, sharer)
    assert body["keys"] == expected_keys(op, sharer, "sharing")
    ks = keysets(op)
    own = default_keyset_id(op, sharer.site_id)
    by_id = {k["id"]: k["keyset_id"] for k in store_keys(op)}
    for k in body["keys"]:
        keyset = by_id[k["id"]]
        assert keyset != -2, f"refresh key {k['id']} published"
        if keyset == -1:
            assert k["keyset_id"] == MASTER_KEYSET_ID_FOR_SDKS, k
        elif keyset == own:
            assert k["keyset_id"] == own, k
        else:
            allowed = ks[keyset]["allowed_sites"] or ""
            assert str(sharer.site_id) in allowed, f"key {k['id']} of keyset {keyset} does not list the caller"
    assert body["site_data"] == expected_site_data(op, sharer)


def test_site_data_lists_domain_names_but_not_app_names(operator):
    """key/bidstream site_data: domain names only (the reference's default: app names not provided); a site with
    only app names has no entry."""
    op = operator
    site_data = call(op, BIDSTREAM, op.need("id_reader"))["site_data"]
    dev = [s for s in site_data if s["id"] == 999]
    assert dev == [{"id": 999, "domain_names": sorted(["example.org", "example.com", "localhost"])}], site_data
    assert op.need_site("mobile")["id"] not in [s["id"] for s in site_data]


# ------------------------------------------------------------------ through the SDK's bidstream and sharing clients

def test_sdk_bidstream_client_decrypts_generated_tokens(operator, publisher):
    """bidstream (SDK): after refresh(), tokens for an email and a phone decrypt to a raw UID with site and
    established time; garbage does not decrypt; a client that never refreshed cannot decrypt."""
    op = operator
    reader = op.need("id_reader")
    client = BidstreamClient(op.base_url, reader.api_key, reader.secret_b64)
    assert client.refresh().success
    for make in (TokenGenerateInput.from_email("hopefully-not-opted-out@example.com"),
                 TokenGenerateInput.from_phone("+12345678901")):
        gen = publisher.generate_token(make.do_not_generate_tokens_for_opted_out())
        assert not gen.is_optout()
        d = client.decrypt_token_into_raw_uid(gen.get_identity().get_advertising_token(), "example.com")
        assert d.success and d.uid and d.established and d.site_id == op.dev.site_id, d.status
    assert not client.decrypt_token_into_raw_uid("invalid-token", "example.com").success
    token = publisher.generate_token(TokenGenerateInput.from_email("x@example.com")).get_identity() \
        .get_advertising_token()
    fresh = BidstreamClient(op.base_url, reader.api_key, reader.secret_b64)
    assert not fresh.decrypt_token_into_raw_uid(token, "example.com").success


def test_sdk_sharing_client_round_trip(operator, publisher):
    """sharing (SDK): a raw UID from a decrypted token encrypts and decrypts back; an invalid raw UID does not
    encrypt; garbage does not decrypt; a client that never refreshed cannot encrypt."""
    op = operator
    reader = op.need("id_reader")
    bidstream = BidstreamClient(op.base_url, reader.api_key, reader.secret_b64)
    assert bidstream.refresh().success
    token = publisher.generate_token(TokenGenerateInput.from_email("hopefully-not-opted-out@example.com")) \
        .get_identity().get_advertising_token()
    raw_uid = bidstream.decrypt_token_into_raw_uid(token, "example.com").uid
    sharing = SharingClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    assert sharing.refresh().success
    enc = sharing.encrypt_raw_uid_into_token(raw_uid)
    assert enc.success and enc.encrypted_data
    dec = sharing.decrypt_token_into_raw_uid(enc.encrypted_data)
    assert dec.success and dec.uid == raw_uid
    assert not sharing.encrypt_raw_uid_into_token("invalid_raw_uid").success
    assert not sharing.decrypt_token_into_raw_uid("invalid-token").success
    assert not SharingClient(op.base_url, op.dev.api_key, op.dev.secret_b64).encrypt_raw_uid_into_token(
        raw_uid).success


@pytest.mark.parametrize("kind", ["bidstream", "sharing"])
def test_sdk_clients_with_bad_credentials_fail_to_refresh(operator, kind):
    """bidstream/sharing (SDK): a wrong API key or a wrong secret makes refresh() fail, not raise."""
    cls = BidstreamClient if kind == "bidstream" else SharingClient
    c = operator.need("id_reader")
    assert not cls(operator.base_url, "bad-api-key", c.secret_b64).refresh().success
    assert not cls(operator.base_url, c.api_key, "bad-secret-key").refresh().success


@pytest.mark.parametrize("site_id", ["1", "2"])
def test_no_client_of_a_reserved_site_can_exist(operator, site_id):
    """key/latest for a client of a reserved site id is 401 in the reference; here such a client cannot be
    created at all (sites 1 and 2 are reserved), so the request can never be authorized."""
    with pytest.raises(CliError, match="reserved"):
        run_cli(operator.binary, "client", "create", "--data-dir", str(operator.data_dir), "--scope", operator.scope,
                "--site-id", site_id, "--roles", "ID_READER", "--json")
