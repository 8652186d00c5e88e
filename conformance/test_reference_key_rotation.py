"""Key rotation within a publisher's keyset, as the reference's rotating-keyset tests pin it for /v2/token/generate
and the key downloads (REFERENCE_CASES.md): a key added for later activation is published at once but not used;
a key activating now is used by the next token. One server of its own (keys change while it serves)."""

import pytest

from checks import v2_call
from ops_support import CONFIG_BOUND_S, cli_json, make_operator, wait_for
from wire import parse_ad_token, sdk_key_collection

WAIT_S = 30


@pytest.fixture(scope="module")
def op(tmp_path_factory):
    o = make_operator(tmp_path_factory.mktemp("reference-key-rotation"))
    yield o
    o.stop()


def site_keyset_id(op, site_id: int = 999) -> int:
    rows = [k for k in cli_json(op, "keys", "list") if k["site_id"] == site_id and k["default"] and k["enabled"]]
    assert len(rows) == 1, rows
    return rows[0]["keyset_id"]


def site_key_of_new_token(op) -> int:
    r, resp = v2_call(op, "/v2/token/generate", {"email": "rotating.keysets@example.com"})
    assert r.status == 200 and resp["status"] == "success", (str(r), resp)
    keys = sdk_key_collection(op.db_path, op.scope, op.dev.site_id)
    return parse_ad_token(keys, resp["body"]["advertising_token"])["site_key_id"]


def published_key_ids(op, path: str) -> set:
    r, resp = v2_call(op, path, None)
    assert r.status == 200, str(r)
    return {k["id"] for k in resp["body"]["keys"]}


def test_key_added_for_later_is_published_but_not_used(op):
    """rotating keysets: a key that activates in an hour is listed by /v2/key/bidstream and /v2/key/sharing at
    once, while /v2/token/generate keeps encrypting with the current active key."""
    keyset = site_keyset_id(op)
    before = site_key_of_new_token(op)
    out = cli_json(op, "keys", "rotate", "--keyset-id", str(keyset), "--activates-in-seconds", "3600")
    pending = out["key_id"]
    wait_for("the pending key is published", lambda: pending in published_key_ids(op, "/v2/key/bidstream"),
             CONFIG_BOUND_S)
    assert pending in published_key_ids(op, "/v2/key/sharing")
    assert site_key_of_new_token(op) == before, "a key that is not active yet must not encrypt tokens"


def test_key_activating_now_is_used_by_the_next_token(op):
    """rotating keysets: once a new key of the caller's default keyset is active, new tokens use it, and the key
    downloads list it."""
    keyset = site_keyset_id(op)
    out = cli_json(op, "keys", "rotate", "--keyset-id", str(keyset), "--activates-in-seconds", "0")
    new = out["key_id"]
    _, _ = wait_for("new tokens use the key activated now", lambda: site_key_of_new_token(op) == new, WAIT_S)
    assert new in published_key_ids(op, "/v2/key/bidstream")
    assert new in published_key_ids(op, "/v2/key/sharing")
