"""No active encryption key: the reference's no-active-key cases for /v2/token/generate, /v2/token/refresh and
/v2/token/client-generate (REFERENCE_CASES.md). The reference sets them up with keys that expired 25 hours ago;
here an operator serves a core data set whose keys all expired that long ago (imported, rotation off), holding the
same keys (ids and secrets) as the data set a first operator issued the refresh token under."""

import secrets
import time

import pytest

from checks import assert_json_error, v2_call
from core_layout import DAY_MS, SITE_ID, ALL_ROLES, client_entry, key_entry, operator_keysets, random_salt, \
    salt_line, site_entry, write_core_set
from derive import b64, sha256
from imported_state import serve_imported
from test_client_side import ORIGIN, generate as client_generate
from test_refresh import post_refresh

NO_ACTIVE_KEY = {"status": "unknown", "message": "No active encryption key available"}
HOUR_S = 3600


@pytest.fixture(scope="module")
def expired(tmp_path_factory):
    """(operator whose keys all expired, the refresh token and response key issued while they were active)."""
    tmp = tmp_path_factory.mktemp("reference-no-active-key")
    t = int(time.time())
    entry, client = client_entry("uid2", SITE_ID, ALL_ROLES)
    keysets = operator_keysets()
    key_secrets = [secrets.token_bytes(32) for _ in keysets]
    now_ms = t * 1000
    lines = [salt_line(i + 1, now_ms, now_ms + 30 * DAY_MS, random_salt()) for i in range(64)]
    first_level = random_salt()

    def write(folder, activates, expires):
        keys = [key_entry(i + 1, ks["keyset_id"], activates, expires, secret)
                for i, (ks, secret) in enumerate(zip(keysets, key_secrets))]
        write_core_set(tmp / folder, sites=[site_entry(SITE_ID, domain_names=["example.com"])], clients=[entry],
                       keysets=keysets, keys=keys, salt_lines=lines, first_level=first_level)

    write("core-active", t - 60, t + 30 * 86400)
    write("core-expired", t - 50 * HOUR_S, t - 25 * HOUR_S)

    active = serve_imported(tmp / "active", tmp / "core-active", client)
    try:
        r, resp = v2_call(active, "/v2/token/generate", {"email": "test@email.com"})
        assert r.status == 200 and resp["status"] == "success", f"generate while keys are active: {r}"
        body = resp["body"]
        refreshed = post_refresh(active, body["refresh_token"], client.api_key)
        assert refreshed.status == 200, f"the token refreshes while keys are active: {refreshed}"
    finally:
        active.stop()
    op = serve_imported(tmp / "expired", tmp / "core-expired", client, keypair_site=SITE_ID)
    yield op, body
    op.stop()


def test_generate_with_no_active_key_is_500(expired):
    """generate (no active key): 500 {"status": "unknown", "message": "No active encryption key available"},
    no body."""
    op, _ = expired
    r, _ = v2_call(op, "/v2/token/generate", {"email": "test@email.com"})
    assert_json_error(r, 500, NO_ACTIVE_KEY)


def test_refresh_of_a_valid_token_with_no_active_key_is_500(expired):
    """generate then refresh (no active key): a refresh token issued while the keys were active opens (decoding
    needs no active key) but no new token can be encrypted: 500 "No active encryption key available"."""
    op, body = expired
    assert_json_error(post_refresh(op, body["refresh_token"], op.dev.api_key), 500, NO_ACTIVE_KEY)


def test_client_generate_with_no_active_key_is_500(expired):
    """client-generate (no active key): a valid request from a registered origin answers 500 "No active
    encryption key available", in clear."""
    op, _ = expired
    _, r = client_generate(op, {"email_hash": b64(sha256("random@unifiedid.com"))}, keypair=op.keypair,
                           origin=ORIGIN)
    assert_json_error(r, 500, NO_ACTIVE_KEY)
