"""Keysets shared, disabled, without keys, and keys withdrawn: the reference's multiple-keysets cases for
/v2/token/generate (GENERATOR), /v2/key/bidstream and /v2/key/sharing (ID_READER, SHARER), and its key-sharing id
cases (REFERENCE_CASES.md), on the reference's own keyset layout imported as a core data set. The changes a case
makes while the server runs go through the CLI: `keys remove`, `keyset disable|enable`, `keyset allowed-sites`,
`keys rotate`, `site create`.

Layout (the reference's MultipleKeysetsTests, key times relative to the import, T):
  -1 master (key 1001), -2 refresh (1003), 2 fallback publisher (1002);
  4 site 101 default; 5 site 101 non-default, shared with nobody; 6 site 101 disabled;
  7 site 102 default, open to ID readers; 8 site 103 shared with 102 and 104; 9 site 104 shared with 101;
  10 site 105 shared with nobody. Each of 4-10 has a key active at T, one pending (activates T+1h) and one
  expired; keyset 4 also three older active keys: 1004 (T-6), 1005 (T-4), 1006 (T-2), 1007 (T), 1008 pending,
  1009 expired.
  The key-sharing id cases, renumbered so they fit alongside: 21 site 10 (no keys), 22 site 11 shared with 10
  (no keys), 23 site 12 (no keys), 24 site 13 shared with 12 (key 1030); site 8 has no keyset at all.
  25: site 101, default but disabled (enabling it would give site 101 two default keysets)."""

import time

import pytest

from checks import v2_call
from core_layout import DAY_MS, client_entry, key_entry, keyset_entry, random_salt, salt_line, site_entry, \
    write_core_set
from imported_state import serve_imported
from operator_proc import CliError
from ops_support import CONFIG_BOUND_S, cli_json, wait_for
from wire import MASTER_KEYSET_ID_FOR_SDKS, parse_ad_token, sdk_key_collection

BIDSTREAM, SHARING = "/v2/key/bidstream", "/v2/key/sharing"
PENDING_S = 3600
LIVE_S = 30 * 86400

# The reference's expectations, by key id.
READER_101_KEYS = {1001, 1002, *range(1004, 1013), 1016, 1017, 1018, 1022, 1023, 1024}
SHARER_101_KEYS = {1001, *range(1004, 1013), 1022, 1023, 1024}


def _keys_of(keyset_id: int, first_id: int, t: int) -> list:
    """An active key (T), a pending one and an expired one, as the reference gives keysets 5-10."""
    return [key_entry(first_id, keyset_id, t, t + LIVE_S), key_entry(first_id + 1, keyset_id, t + PENDING_S, t + LIVE_S),
            key_entry(first_id + 2, keyset_id, t - 5, t - 2)]


def write_layout(root):
    t = int(time.time())
    clients = {}
    entries = []
    for name, site, roles in (("generator", 101, ["GENERATOR"]), ("reader", 101, ["ID_READER"]),
                              ("sharer", 101, ["SHARER"]), ("sharer_8", 8, ["SHARER"]),
                              ("sharer_10", 10, ["SHARER"]), ("sharer_12", 12, ["SHARER"])):
        entry, client = client_entry("uid2", site, roles)
        entries.append(entry)
        clients[name] = client
    sites = [site_entry(s, domain_names=[f"site{s}.example"]) for s in (101, 102, 103, 104, 105, 8, 10, 11, 12, 13)]
    keysets = [keyset_entry(-1, -1), keyset_entry(-2, -2), keyset_entry(2, 2),
               keyset_entry(4, 101), keyset_entry(5, 101, [], default=False),
               keyset_entry(6, 101, [], enabled=False, default=False), keyset_entry(7, 102),
               keyset_entry(8, 103, [102, 104]), keyset_entry(9, 104, [101]), keyset_entry(10, 105, []),
               keyset_entry(21, 10, []), keyset_entry(22, 11, [10]), keyset_entry(23, 12, []),
               keyset_entry(24, 13, [12]), keyset_entry(25, 101, None, enabled=False, default=True)]
    keys = [key_entry(1001, -1, t - 5, t + LIVE_S), key_entry(1002, 2, t - 5, t + LIVE_S),
            key_entry(1003, -2, t - 5, t + LIVE_S),
            key_entry(1004, 4, t - 6, t + LIVE_S), key_entry(1005, 4, t - 4, t + LIVE_S),
            key_entry(1006, 4, t - 2, t + LIVE_S), key_entry(1007, 4, t, t + LIVE_S),
            key_entry(1008, 4, t + PENDING_S, t + LIVE_S), key_entry(1009, 4, t - 5, t - 2),
            key_entry(1030, 24, t, t + LIVE_S)]
    for keyset_id, first in ((5, 1010), (6, 1013), (7, 1016), (8, 1019), (9, 1022), (10, 1025)):
        keys += _keys_of(keyset_id, first, t)
    now_ms = t * 1000
    lines = [salt_line(i + 1, now_ms, now_ms + 30 * DAY_MS, random_salt()) for i in range(64)]
    write_core_set(root, sites=sites, clients=entries, keysets=keysets, keys=keys, salt_lines=lines)
    return clients


def start(tmp):
    clients = write_layout(tmp / "core")
    op = serve_imported(tmp, tmp / "core", clients["generator"])
    return op, clients


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """For the cases that only read."""
    op, clients = start(tmp_path_factory.mktemp("reference-keysets"))
    yield op, clients
    op.stop()


@pytest.fixture
def fresh(tmp_path):
    """For the cases that change keys or keysets: a server of their own."""
    op, clients = start(tmp_path)
    yield op, clients
    op.stop()


def body_of(op, path, client):
    r, resp = v2_call(op, path, None, client=client)
    assert r.status == 200 and resp["status"] == "success", f"{path}: {r}"
    return resp["body"]


def key_ids(op, path, client) -> set:
    return {k["id"] for k in body_of(op, path, client)["keys"]}


def site_key_of_new_token(op, client) -> int:
    r, resp = v2_call(op, "/v2/token/generate", {"email": "test@uid2.com"},
                      client=client)
    assert r.status == 200 and resp["status"] == "success", (str(r), resp)
    token = parse_ad_token(sdk_key_collection(op.db_path, op.scope, client.site_id), resp["body"]["advertising_token"])
    assert token["site_id"] == client.site_id
    return token["site_key_id"], token["master_key_id"]


def cli(op, *args):
    return cli_json(op, *args)


def wait_until(what, probe):
    wait_for(what, probe, CONFIG_BOUND_S)


# ---------------------------------------------------------------- /v2/token/generate (GENERATOR)

def test_generate_encrypts_with_the_active_key_of_the_callers_default_keyset(layout):
    """rotating keysets (multi keysets): the site key is the latest activated unexpired key of the caller's
    enabled default keyset (1007: not the older 1004-1006, not the pending 1008, not the expired 1009, not a key
    of the non-default keyset 5), the master key the master keyset's."""
    op, clients = layout
    assert site_key_of_new_token(op, clients["generator"]) == (1007, 1001)


def test_generate_after_the_active_key_is_removed_uses_the_next_active_key(fresh):
    """rotating keysets (disable active key): once the active key 1007 is withdrawn (`keys remove`), tokens are
    encrypted with the next latest activated key of the keyset, 1006."""
    op, clients = fresh
    out = cli(op, "keys", "remove", "--key-id", "1007")
    assert out == {"key_id": 1007, "keyset_id": 4, "removed": True}
    wait_until("tokens stop using the removed key", lambda: site_key_of_new_token(op, clients["generator"])[0] != 1007)
    assert site_key_of_new_token(op, clients["generator"]) == (1006, 1001)


def test_generate_after_the_default_keyset_is_disabled_uses_the_fallback_key(fresh):
    """rotating keysets (disable default keyset): with its default keyset disabled the site's tokens are encrypted
    with the fallback publisher key (1002); enabled again, with its own key."""
    op, clients = fresh
    assert cli(op, "keyset", "disable", "--keyset-id", "4") == {"keyset_id": 4, "enabled": False}
    wait_until("tokens use the fallback key", lambda: site_key_of_new_token(op, clients["generator"])[0] == 1002)
    assert cli(op, "keyset", "enable", "--keyset-id", "4") == {"keyset_id": 4, "enabled": True}
    wait_until("tokens use the site's key again", lambda: site_key_of_new_token(op, clients["generator"])[0] == 1007)


# ---------------------------------------------------------------- /v2/key/bidstream, /v2/key/sharing

@pytest.mark.parametrize("path", [BIDSTREAM, SHARING])
def test_id_reader_sees_own_open_and_shared_keysets_only(layout, path):
    """rotating keysets (keyset access), ID_READER of site 101: the master key; its own keysets (default 4 and
    non-default 5, every key whether active, pending or expired); keysets open to all ID readers (fallback 2, 7);
    keyset 9, which lists 101. Not the refresh key, the disabled keyset 6, keyset 8 (shared with others) or the
    keysets shared with nobody (10)."""
    op, clients = layout
    assert key_ids(op, path, clients["reader"]) == READER_101_KEYS


def test_sharer_sees_own_and_listed_keysets_only(layout):
    """key sharing (correct filtering), SHARER of site 101: the master key, its own keysets and keyset 9, which
    lists 101; keysets open to all ID readers (2, 7) are not shared with a sharer. default_keyset_id is 4, the
    master keyset is reported as 9999999, and site_data names the sites whose keys it got (101, 104)."""
    op, clients = layout
    body = body_of(op, SHARING, clients["sharer"])
    assert {k["id"] for k in body["keys"]} == SHARER_101_KEYS
    assert body["default_keyset_id"] == 4 and body["caller_site_id"] == 101
    assert body["master_keyset_id"] == MASTER_KEYSET_ID_FOR_SDKS
    keysets = {k["id"]: k.get("keyset_id") for k in body["keys"]}
    assert keysets[1001] == MASTER_KEYSET_ID_FOR_SDKS and keysets[1007] == 4 and keysets[1010] == 5
    assert "keyset_id" not in next(k for k in body["keys"] if k["id"] == 1022), "another site's keyset id is not shown"
    assert sorted(s["id"] for s in body["site_data"]) == [101, 104]


@pytest.mark.parametrize("case, client, keys, default_keyset, sites", [
    ("no keyset", "sharer_8", {1001}, None, []),
    ("keyset without keys", "sharer_10", {1001}, 21, []),
    ("shared key", "sharer_12", {1001, 1030}, 23, [13]),
], ids=["no-keyset", "no-key", "shared-key"])
def test_sharing_ids(layout, case, client, keys, default_keyset, sites):
    """key sharing (correct ids): a site without any keyset gets only the master key and no default_keyset_id; a
    site whose keyset has no keys gets the master key and its keyset's id; a site another keyset is shared with
    gets that key too (and the owner's site in site_data)."""
    op, clients = layout
    body = body_of(op, SHARING, clients[client])
    assert {k["id"] for k in body["keys"]} == keys, case
    assert body.get("default_keyset_id") == default_keyset, case
    if default_keyset is None:
        assert "default_keyset_id" not in body, "no keyset: the field is left out"
    assert sorted(s["id"] for s in body.get("site_data", [])) == sites


@pytest.mark.parametrize("path", [BIDSTREAM, SHARING])
def test_new_keyset_is_published_as_its_allowed_sites_say(fresh, path):
    """rotating keysets (add keyset): a new site's keyset is open to all ID readers; shared with nobody it
    disappears from the ID reader's download; listing site 101 publishes it to 101's ID reader and sharer."""
    op, clients = fresh
    site = cli(op, "site", "create", "--site-id", "107", "--name", "Site 107")
    keyset = site["keyset_id"]
    new_keys = {key["id"] for ks in cli(op, "keys", "list") if ks["keyset_id"] == keyset for key in ks["keys"]}
    assert new_keys, "a new site gets a keyset with a key"
    wait_until("the new keyset is open to ID readers", lambda: new_keys <= key_ids(op, path, clients["reader"]))
    assert not new_keys & key_ids(op, SHARING, clients["sharer"]), "open to ID readers is not shared with a sharer"
    assert cli(op, "keyset", "allowed-sites", "--keyset-id", str(keyset), "--nobody") == \
        {"keyset_id": keyset, "allowed_sites": []}
    wait_until("shared with nobody", lambda: not new_keys & key_ids(op, path, clients["reader"]))
    assert cli(op, "keyset", "allowed-sites", "--keyset-id", str(keyset), "--sites", "101") == \
        {"keyset_id": keyset, "allowed_sites": [101]}
    wait_until("shared with 101", lambda: new_keys <= key_ids(op, path, clients["reader"]))
    assert new_keys <= key_ids(op, SHARING, clients["sharer"])
    assert key_ids(op, path, clients["reader"]) == READER_101_KEYS | new_keys


@pytest.mark.parametrize("path", [BIDSTREAM, SHARING])
def test_keys_added_to_existing_keysets_are_published_unless_disabled(fresh, path):
    """rotating keysets (add key): new keys of the default keyset 4, the non-default 5 and the shared 9 are
    published to 101's ID reader; one of the disabled keyset 6 is not."""
    op, clients = fresh
    added = {ks: cli(op, "keys", "rotate", "--keyset-id", str(ks), "--activates-in-seconds", "0")["key_id"]
             for ks in (4, 5, 6, 9)}
    expected = READER_101_KEYS | {added[4], added[5], added[9]}
    wait_until("the new keys are published", lambda: key_ids(op, path, clients["reader"]) == expected)


@pytest.mark.parametrize("path", [BIDSTREAM, SHARING])
def test_removed_key_is_no_longer_published(fresh, path):
    """rotating keysets (disable key): a withdrawn key (1008, `keys remove`) is no longer published."""
    op, clients = fresh
    cli(op, "keys", "remove", "--key-id", "1008")
    wait_until("1008 is gone", lambda: key_ids(op, path, clients["reader"]) == READER_101_KEYS - {1008})


@pytest.mark.parametrize("path", [BIDSTREAM, SHARING])
def test_disabled_keyset_is_no_longer_published(fresh, path):
    """rotating keysets (disable keyset): the keys of a disabled keyset (5: 1010-1012) are no longer published."""
    op, clients = fresh
    cli(op, "keyset", "disable", "--keyset-id", "5")
    wait_until("keyset 5 is gone", lambda: key_ids(op, path, clients["reader"]) == READER_101_KEYS - {1010, 1011, 1012})


# ---------------------------------------------------------------- what the commands refuse

@pytest.mark.parametrize("args, message", [
    (("keys", "remove", "--key-id", "1001"), "keyset -1 would have no active key"),
    (("keys", "remove", "--key-id", "4242"), "No key 4242"),
    (("keyset", "disable", "--keyset-id", "-2"), "cannot be disabled"),
    (("keyset", "enable", "--keyset-id", "25"), "already has an enabled default keyset (4)"),
    (("keyset", "allowed-sites", "--keyset-id", "5", "--sites", "1,x"), "\"x\" is not a site id"),
    (("keyset", "allowed-sites", "--keyset-id", "5", "--nobody", "--all-id-readers"), "exactly one of"),
    (("keyset", "allowed-sites", "--keyset-id", "-1", "--nobody"), "not shared by site"),
    (("keyset", "disable", "--keyset-id", "4242"), "No keyset 4242"),
], ids=["only-master-key", "no-such-key", "refresh-keyset", "second-default", "bad-site-id", "two-modes",
        "master-keyset", "no-such-keyset"])
def test_commands_refuse_what_would_break_issuance_or_is_unknown(layout, args, message):
    """The commands refuse a change that would leave the operator unable to issue tokens (the master keyset's only
    active key, disabling an operator keyset, two default keysets for one site) and unknown or malformed ids;
    nothing changes."""
    op, clients = layout
    with pytest.raises(CliError) as refused:
        cli(op, *args)
    assert message in str(refused.value)
    assert site_key_of_new_token(op, clients["generator"]) == (1007, 1001)
