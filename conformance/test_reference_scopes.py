"""A refresh token carries its scope: the reference's scope-mismatch case (UIDOperatorServiceTest
testTestIdentityScopeMismatch, REFERENCE_CASES.md): an EUID refresh token presented to a UID2 operator is an invalid
token, even when both operators hold the same keys. Here a UID2 and an EUID operator serve core data sets with the
same keysets, keys and salts (imported), each with a client of its own scope."""

import time

import pytest

from checks import assert_json_error, v2_call
from core_layout import DAY_MS, SITE_ID, ALL_ROLES, client_entry, key_entry, operator_keysets, random_salt, \
    salt_line, site_entry, write_core_set
from imported_state import serve_imported
from test_refresh import decrypt_refresh, post_refresh

INVALID_TOKEN = {"status": "invalid_token", "message": "Invalid Token presented"}


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference-scopes")
    t = int(time.time())
    keysets = operator_keysets()
    keys = [key_entry(i + 1, ks["keyset_id"], t - 60, t + 30 * 86400) for i, ks in enumerate(keysets)]
    now_ms = t * 1000
    lines = [salt_line(i + 1, now_ms, now_ms + 30 * DAY_MS, random_salt()) for i in range(64)]
    first_level = random_salt()
    ops = {}
    for scope in ("uid2", "euid"):
        entry, client = client_entry(scope, SITE_ID, ALL_ROLES)
        write_core_set(tmp / f"core-{scope}", sites=[site_entry(SITE_ID)], clients=[entry], keysets=keysets,
                       keys=keys, salt_lines=lines, first_level=first_level)
        ops[scope] = serve_imported(tmp / scope, tmp / f"core-{scope}", client, scope=scope)
    yield ops
    for op in ops.values():
        op.stop()


def generate(op) -> dict:
    r, resp = v2_call(op, "/v2/token/generate", {"email": "test@example.com"})
    assert r.status == 200 and resp["status"] == "success", str(r)
    return resp["body"]


@pytest.mark.parametrize("issuer, refresher", [("euid", "uid2"), ("uid2", "euid")])
def test_refresh_token_of_the_other_scope_is_invalid(twins, issuer, refresher):
    """scope mismatch: a refresh token issued by the EUID operator is an invalid token to the UID2 operator (and
    the other way round), while each operator refreshes its own: the keys are the same, only the scope differs."""
    body = generate(twins[issuer])
    own = post_refresh(twins[issuer], body["refresh_token"], twins[issuer].dev.api_key)
    assert own.status == 200, f"the issuing operator refreshes its own token: {own}"
    assert decrypt_refresh(own, body["refresh_response_key"])["status"] == "success"
    other = twins[refresher]
    assert_json_error(post_refresh(other, body["refresh_token"], other.dev.api_key), 400, INVALID_TOKEN)
