"""Live operations on a running server, no restart (README "Operations";
docs/DECISIONS.md#opt-outs-are-local-and-durable: opt-outs reach every node within a bounded, measured delay):
clients, opt-outs, key and salt rotation by hand and on schedule, sites and key pairs. Every change is made with the
CLI in another process while the server keeps serving; each test measures the delay until the server answers
differently, prints it and asserts it against a bound (opt-outs 2 s, configuration 5 s; salts, whose reload reads
1 048 576 buckets, 30 s).

One server (a copy of an initialised data dir, default lifetimes) serves the whole module; the scheduled-rotation
test runs its own server with a configuration file."""

import base64
import json
import signal
import subprocess
import time
import urllib.error

import pytest
from uid2_client import (BidstreamClient, IdentityMapV3Client, IdentityMapV3Input, TokenGenerateInput,
                         Uid2PublisherClient)
from uid2_client.decryption_status import DecryptionStatus

import cstg
import derive
from checks import assert_json_error, check_identity, client_error, v2_call
from derive import b64
from operator_proc import Client
from ops_support import (CONFIG_BOUND_S, OPTOUT_BOUND_S, SALT_RELOAD_BOUND_S, cli, cli_json, identity_body,
                         make_operator, master_key_id, ops_status, record, refresh_envelope_key_id, wait_for)
from wire import db_rows, http, now_ms, open_refresh_envelope, parse_ad_token, sdk_key_collection, store_keys

GENERATE = "/v2/token/generate"
BIDSTREAM = "/v2/key/bidstream"
MAP_V3 = "/v3/identity/map"
STATUS = "/v2/optout/status"
BUCKETS = "/v2/identity/buckets"
DOCS = "https://unifiedid.com/docs/getting-started/gs-encryption-decryption"
CHECK_KEY = (f"Invalid body: Check encryption key (ClientSecret). See {DOCS} for details on the request envelope "
             "format.")
UNAUTHORIZED = {"status": "unauthorized"}
WAIT_S = 30  # how long to keep polling, so a slow change is measured rather than only reported as "too slow"
DAY_S = 86400


@pytest.fixture(scope="module")
def op(tmp_path_factory):
    o = make_operator(tmp_path_factory.mktemp("ops-live"))
    yield o
    o.stop()


def pub(op, client: Client = None) -> Uid2PublisherClient:
    c = client or op.dev
    return Uid2PublisherClient(op.base_url, c.api_key, c.secret_b64)


def keys_of(op):
    return sdk_key_collection(op.db_path, op.scope, op.dev.site_id)


def raw_uid(op, email: str) -> str:
    return b64(op.salts.derive("email", email, op.scope).raw_uid)


def generated(op, client: Client, email: str) -> dict:
    """Raw generate; returns the token body when the answer is 200 success, else raises with the answer."""
    r, resp = v2_call(op, GENERATE, {"email": email}, client=client)
    if r.status != 200 or resp.get("status") != "success":
        raise AssertionError(f"generate as {client.api_key[:18]}…: {r} {resp}")
    return resp["body"]


def check_token(op, body: dict, email: str, t0: int, t1: int, site_id: int = 999, established_ms: int = None):
    return check_identity(op, keys_of(op), body, "email", email, t0, t1, site_id=site_id,
                          established_ms=established_ms)


def assert_within(what: str, delay: float, bound: float):
    record(what, delay)
    assert delay <= bound, f"{what} took {delay:.2f} s, more than {bound} s"


def tag() -> str:
    return str(now_ms())


# ------------------------------------------------------------------ clients

def test_client_create_disable_enable_while_serving(op):
    email = f"client.live.{tag()}@example.com"
    created = cli_json(op, "client", "create", "--site-id", "999", "--roles", "GENERATOR")
    since = time.monotonic()
    assert created["roles"] == ["GENERATOR"] and created["site_id"] == 999, created
    new = Client.from_json(created)
    key_id = created["key_id"]

    def sdk_ok():
        return pub(op, new).generate_token(TokenGenerateInput.from_email(email)).is_success()
    _, delay = wait_for("SDK generate with a key created while serving", sdk_ok, WAIT_S, since=since)
    assert_within("client create -> key accepted", delay, CONFIG_BOUND_S)
    t0 = now_ms()
    body = generated(op, new, email)
    check_token(op, body, email, t0, now_ms())

    cli(op, "client", "disable", "--key-id", key_id)
    since = time.monotonic()
    _, delay = wait_for("disabled key answered 401",
                        lambda: v2_call(op, GENERATE, {"email": email}, client=new)[0].status == 401, WAIT_S,
                        since=since)
    assert_within("client disable -> 401", delay, CONFIG_BOUND_S)
    r, _ = v2_call(op, GENERATE, {"email": email}, client=new)
    assert_json_error(r, 401, UNAUTHORIZED)
    with pytest.raises(urllib.error.HTTPError) as e:
        pub(op, new).generate_token(TokenGenerateInput.from_email(email))
    assert e.value.code == 401
    listed = {c["key_id"]: c for c in cli_json(op, "client", "list")}
    assert listed[key_id]["disabled"] is True, listed[key_id]
    text = json.dumps(listed)
    assert new.api_key not in text and new.secret_b64 not in text, "client list shows a key or a secret"
    # the other clients of the site are untouched
    assert pub(op).generate_token(TokenGenerateInput.from_email(email)).is_success()

    cli(op, "client", "enable", "--key-id", key_id)
    since = time.monotonic()
    _, delay = wait_for("re-enabled key accepted", sdk_ok, WAIT_S, since=since)
    assert_within("client enable -> key accepted", delay, CONFIG_BOUND_S)
    assert {c["key_id"]: c for c in cli_json(op, "client", "list")}[key_id]["disabled"] is False


def test_client_rotate_secret_while_serving(op):
    email = f"secret.live.{tag()}@example.com"
    created = cli_json(op, "client", "create", "--site-id", "999", "--roles", "GENERATOR,MAPPER")
    old = Client.from_json(created)
    wait_for("new client accepted", lambda: generated(op, old, email), WAIT_S)

    out = cli_json(op, "client", "rotate-secret", "--key-id", created["key_id"])
    since = time.monotonic()
    assert out.get("key_id") == created["key_id"], out
    assert out["secret"] != old.secret_b64 and len(base64.b64decode(out["secret"], validate=True)) == 32, out
    new = Client(old.api_key, out["secret"], old.site_id, old.roles)

    _, delay = wait_for("new secret accepted", lambda: generated(op, new, email), WAIT_S, since=since)
    assert_within("client rotate-secret -> new secret accepted", delay, CONFIG_BOUND_S)
    assert pub(op, new).generate_token(TokenGenerateInput.from_email(email)).is_success()
    r, _ = v2_call(op, MAP_V3, {"email": [email]}, client=new)
    assert r.status == 200, str(r)
    # the old secret no longer opens the envelope: the same API key, a 400 naming the encryption key
    for path, payload in ((GENERATE, {"email": email}), (MAP_V3, {"email": [email]})):
        r, _ = v2_call(op, path, payload, client=old)
        client_error(r, CHECK_KEY)
    with pytest.raises(urllib.error.HTTPError) as e:
        pub(op, old).generate_token(TokenGenerateInput.from_email(email))
    assert e.value.code == 400


# ------------------------------------------------------------------ opt-outs

def test_optout_add_while_serving(op):
    email = f"optout.live.{tag()}@example.com"
    kept = f"kept.live.{tag()}@example.com"
    d = op.salts.derive("email", email, op.scope)
    p = pub(op)
    before = p.generate_token(TokenGenerateInput.from_email(email))
    assert before.is_success(), before.status

    t_cmd0 = now_ms()
    out = cli_json(op, "optout", "add", "--email", email)
    since = time.monotonic()
    t_cmd1 = now_ms()
    assert out["advertising_id"] == b64(d.raw_uid), f"CLI recorded ad id {out} != raw UID {b64(d.raw_uid)}"
    assert out["first_level_hash"] == b64(d.first_level_hash), out
    assert t_cmd0 // 1000 - 1 <= out["opted_out_since"] <= t_cmd1 // 1000 + 1, f"opted_out_since not epoch s: {out}"

    _, delay = wait_for("generate answers optout",
                        lambda: p.generate_token(TokenGenerateInput.from_email(email)).is_optout(), WAIT_S,
                        interval_s=0.02, since=since)
    assert_within("optout add -> generate answers optout", delay, OPTOUT_BOUND_S)

    r, resp = v2_call(op, MAP_V3, {"email": [email, kept]})
    assert r.status == 200, str(r)
    assert resp["body"]["email"][0] == {"e": "optout"}, resp["body"]
    assert resp["body"]["email"][1]["u"] == raw_uid(op, kept), resp["body"]
    v3 = IdentityMapV3Client(op.base_url, op.dev.api_key, op.dev.secret_b64).generate_identity_map(
        IdentityMapV3Input.from_emails([email]))
    assert v3.unmapped_identities[email].raw_reason == "optout"

    r, resp = v2_call(op, STATUS, {"advertising_ids": [b64(d.raw_uid), raw_uid(op, kept)]})
    assert r.status == 200, str(r)
    assert resp["body"] == {"opted_out": [{"advertising_id": b64(d.raw_uid),
                                           "opted_out_since": out["opted_out_since"] * 1000}]}, resp

    ref = p.refresh_token(before.get_identity())
    assert ref.is_optout(), f"refresh of a token issued before the opt-out: {ref.status}"

    sync = ops_status(op)["sync"]
    lag, worst = sync.get("last_optout_lag_ms"), sync.get("max_optout_lag_ms")
    record("/ops/status last_optout_lag_ms", (lag or 0) / 1000)
    assert type(lag) is int and 0 <= lag <= OPTOUT_BOUND_S * 1000, f"last_optout_lag_ms: {sync}"
    assert type(worst) is int and worst >= lag, f"max_optout_lag_ms: {sync}"


# ------------------------------------------------------------------ keys

def bidstream_keys(op) -> dict:
    r, resp = v2_call(op, BIDSTREAM, None)
    assert r.status == 200, str(r)
    return {k["id"]: k for k in resp["body"]["keys"]}


def store_key(op, key_id: int) -> dict:
    rows = [k for k in store_keys(op.db_path) if k["id"] == key_id]
    assert rows, f"key {key_id} is not in the store"
    return rows[0]


def test_master_key_rotation_while_serving(op):
    email = f"master.rotation.{tag()}@example.com"
    p = pub(op)
    before = p.generate_token(TokenGenerateInput.from_email(email)).get_identity()
    old_master = master_key_id(before.get_advertising_token())
    bc_before = BidstreamClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    assert bc_before.refresh().success

    t_rot = int(time.time())
    out = cli_json(op, "keys", "rotate", "--keyset-id", "-1", "--activates-in-seconds", "0")
    since = time.monotonic()
    new_id = out["key_id"]
    assert out["keyset_id"] == -1 and new_id != old_master, out
    assert t_rot - 1 <= out["activates"] <= int(time.time()) + 1, f"--activates-in-seconds 0: {out}"

    listed, delay = wait_for("/v2/key/bidstream lists the new master key",
                             lambda: bidstream_keys(op).get(new_id), WAIT_S, since=since)
    assert_within("keys rotate -1 -> listed in /v2/key/bidstream", delay, CONFIG_BOUND_S)
    sk = store_key(op, new_id)
    assert (listed["created"], listed["activates"], listed["expires"], listed["secret"]) == \
        (sk["created"], sk["activates"], sk["expires"], sk["secret"]), (listed, sk)

    _, delay = wait_for("new tokens carry the new master key id",
                        lambda: master_key_id(generated(op, op.dev, email)["advertising_token"]) == new_id, WAIT_S,
                        since=since)
    assert_within("keys rotate -1 -> new tokens under the new master key", delay, CONFIG_BOUND_S)
    t0 = now_ms()
    after = generated(op, op.dev, email)
    got = check_token(op, after, email, t0, now_ms())
    assert got["ad"]["master_key_id"] == new_id

    # the old master key stays published until every token it encrypted has expired
    old = bidstream_keys(op).get(old_master)
    assert old is not None, f"old master key {old_master} no longer published right after the rotation"
    assert old["expires"] >= before.get_identity_expires() // 1000, \
        f"old master key expires {old['expires']} before the tokens it encrypted ({before.get_identity_expires()} ms)"

    bc = BidstreamClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    assert bc.refresh().success
    uid = raw_uid(op, email)
    for token, kid in ((before.get_advertising_token(), old_master), (after["advertising_token"], new_id)):
        dec = bc.decrypt_token_into_raw_uid(token, None)
        assert dec.status == DecryptionStatus.SUCCESS, f"BidstreamClient on the token under master key {kid}: " \
                                                      f"{dec.status}"
        assert dec.uid == uid and dec.site_id == 999
    # keys downloaded before the rotation cannot know the new key (the SDK must refresh its keys)
    assert bc_before.decrypt_token_into_raw_uid(after["advertising_token"], None).status != DecryptionStatus.SUCCESS

    ref = p.refresh_token(before)
    assert ref.is_success(), ref.status
    assert master_key_id(ref.get_identity().get_advertising_token()) == new_id
    assert bc.decrypt_token_into_raw_uid(ref.get_identity().get_advertising_token(), None).uid == uid


def test_refresh_key_rotation_while_serving(op):
    email = f"refresh.rotation.{tag()}@example.com"
    p = pub(op)
    before = p.generate_token(TokenGenerateInput.from_email(email)).get_identity()
    older = p.generate_token(TokenGenerateInput.from_email(email)).get_identity()
    old_rk = refresh_envelope_key_id(before.get_refresh_token())
    established = parse_ad_token(keys_of(op), before.get_advertising_token())["established_ms"]

    out = cli_json(op, "keys", "rotate", "--keyset-id", "-2", "--activates-in-seconds", "0")
    since = time.monotonic()
    new_rk = out["key_id"]
    assert out["keyset_id"] == -2 and new_rk != old_rk, out
    assert new_rk not in bidstream_keys(op), "refresh keys must never be published"

    _, delay = wait_for("new refresh envelopes under the new refresh key",
                        lambda: refresh_envelope_key_id(generated(op, op.dev, email)["refresh_token"]) == new_rk,
                        WAIT_S, since=since)
    assert_within("keys rotate -2 -> new refresh envelopes under the new key", delay, CONFIG_BOUND_S)
    t0 = now_ms()
    body = generated(op, op.dev, email)
    got = check_token(op, body, email, t0, now_ms())
    assert got["refresh"]["envelope_key_id"] == got["refresh"]["token_key_id"] == new_rk

    # a refresh token issued under the old key still refreshes (the old key is kept for its lifetime + grace)
    assert store_key(op, old_rk)["expires"] * 1000 >= before.get_refresh_expires(), \
        "old refresh key expires before the refresh tokens it encrypted"
    t0 = now_ms()
    ref = p.refresh_token(before)
    t1 = now_ms()
    assert ref.is_success(), f"refresh of a token issued under the old refresh key {old_rk}: {ref.status}"
    got = check_token(op, identity_body(ref.get_identity()), email, t0, t1, established_ms=established)
    assert got["refresh"]["envelope_key_id"] == new_rk
    # and so does another one, refreshed twice in a row
    second = p.refresh_token(older)
    assert second.is_success(), second.status
    third = p.refresh_token(second.get_identity())
    assert third.is_success(), third.status
    assert open_refresh_envelope(op.db_path, third.get_identity().get_refresh_token())["envelope_key_id"] == new_rk


# ------------------------------------------------------------------ sites and key pairs

ORIGIN_A, ORIGIN_B = "https://www.live-a.com", "https://shop.live-b.com"


def cstg_post(op, kp: dict, email: str, origin: str):
    box = cstg.CstgBox(kp["public_key"])
    req = box.request(kp["subscription_id"], {"email_hash": b64(derive.sha256(email))})
    r = http("POST", op.url(cstg.PATH), json.dumps(req).encode(),
             {"Content-Type": "text/plain;charset=UTF-8", "Origin": origin})
    return box, r


def cstg_ok(op, kp, email, origin) -> dict:
    box, r = cstg_post(op, kp, email, origin)
    if r.status != 200:
        raise AssertionError(str(r))
    resp = box.decrypt_response(r.body)
    if resp.get("status") != "success":
        raise AssertionError(resp)
    return resp["body"]


def cstg_status(op, kp, email, origin) -> int:
    return cstg_post(op, kp, email, origin)[1].status


def test_keypair_and_site_domains_while_serving(op):
    email = f"cstg.live.{tag()}@example.com"
    site = cli_json(op, "site", "update", "--site-id", "999", "--domain-names", "live-a.com")
    assert site["domain_names"] == ["live-a.com"], site
    kp = cli_json(op, "keypair", "create", "--site-id", "999")
    since = time.monotonic()
    assert kp["site_id"] == 999 and kp["public_key"].startswith("UID2-X-T-"), kp

    _, delay = wait_for("client-side generation with a key pair created while serving",
                        lambda: cstg_ok(op, kp, email, ORIGIN_A), WAIT_S, since=since)
    assert_within("keypair create -> client-side generation works", delay, CONFIG_BOUND_S)
    t0 = now_ms()
    body = cstg_ok(op, kp, email, ORIGIN_A)
    check_identity(op, keys_of(op), body, "email_hash", b64(derive.sha256(email)), t0, now_ms(), site_id=999,
                   privacy_bits=3)
    box, r = cstg_post(op, kp, email, ORIGIN_B)
    assert_json_error(r, 403, {"status": "invalid_http_origin", "message": "unexpected http origin"})

    cli_json(op, "site", "update", "--site-id", "999", "--domain-names", "live-b.com")
    since = time.monotonic()
    _, delay = wait_for("origin check follows site update",
                        lambda: cstg_status(op, kp, email, ORIGIN_A) == 403 and cstg_ok(op, kp, email, ORIGIN_B),
                        WAIT_S, since=since)
    assert_within("site update --domain-names -> origin check follows", delay, CONFIG_BOUND_S)
    box, r = cstg_post(op, kp, email, ORIGIN_A)
    assert_json_error(r, 403, {"status": "invalid_http_origin", "message": "unexpected http origin"})

    cli(op, "keypair", "disable", "--subscription-id", kp["subscription_id"])
    since = time.monotonic()
    _, delay = wait_for("disabled key pair answered 401", lambda: cstg_status(op, kp, email, ORIGIN_B) == 401,
                        WAIT_S, since=since)
    assert_within("keypair disable -> 401", delay, CONFIG_BOUND_S)
    box, r = cstg_post(op, kp, email, ORIGIN_B)
    assert_json_error(r, 401, {"status": "unauthorized", "message": "Unauthorized"})
    listed = {k["subscription_id"]: k for k in cli_json(op, "keypair", "list")}
    assert listed[kp["subscription_id"]]["disabled"] is True
    assert "private" not in json.dumps(listed).lower(), "keypair list must not show private keys"

    cli(op, "keypair", "enable", "--subscription-id", kp["subscription_id"])
    since = time.monotonic()
    _, delay = wait_for("re-enabled key pair works", lambda: cstg_ok(op, kp, email, ORIGIN_B), WAIT_S, since=since)
    assert_within("keypair enable -> client-side generation works", delay, CONFIG_BOUND_S)


def test_site_disable_turns_off_its_clients_and_key_pairs_while_serving(op):
    """`site disable` stops every client and client-side key pair of the site within the sync interval, with the
    answers of a disabled client (401 unauthorized) and of a disabled key pair (401 "Unauthorized"); other sites are
    untouched, and `site enable` brings them back."""
    email = f"site.live.{tag()}@example.com"
    site_id = 5000 + int(tag()) % 1_000_000
    cli_json(op, "site", "create", "--site-id", str(site_id), "--name", f"live {site_id}", "--domain-names", "live-a.com")
    member = Client.from_json(cli_json(op, "client", "create", "--site-id", str(site_id), "--roles", "GENERATOR"))
    kp = cli_json(op, "keypair", "create", "--site-id", str(site_id))
    wait_for("new site's client and key pair work",
             lambda: pub(op, member).generate_token(TokenGenerateInput.from_email(email)).is_success()
             and cstg_ok(op, kp, email, ORIGIN_A), WAIT_S)

    cli(op, "site", "disable", "--site-id", str(site_id))
    since = time.monotonic()
    _, delay = wait_for("disabled site's client answered 401",
                        lambda: v2_call(op, GENERATE, {"email": email}, client=member)[0].status == 401, WAIT_S,
                        since=since)
    assert_within("site disable -> 401", delay, CONFIG_BOUND_S)
    r, _ = v2_call(op, GENERATE, {"email": email}, client=member)
    assert_json_error(r, 401, UNAUTHORIZED)
    _, r = cstg_post(op, kp, email, ORIGIN_A)
    assert_json_error(r, 401, {"status": "unauthorized", "message": "Unauthorized"})
    assert pub(op).generate_token(TokenGenerateInput.from_email(email)).is_success(), "another site's client failed"
    assert [s for s in cli_json(op, "site", "list") if s["id"] == site_id][0]["enabled"] is False

    cli(op, "site", "enable", "--site-id", str(site_id))
    since = time.monotonic()
    _, delay = wait_for("re-enabled site's client and key pair work",
                        lambda: pub(op, member).generate_token(TokenGenerateInput.from_email(email)).is_success()
                        and cstg_ok(op, kp, email, ORIGIN_A), WAIT_S, since=since)
    assert_within("site enable -> client and key pair work", delay, CONFIG_BOUND_S)


# ------------------------------------------------------------------ salts

def test_salt_rotation_while_serving(op):
    """Rotate 1 % of the buckets (also those not due) while serving; for identities whose bucket rotated, the v3 map
    must answer u = the new raw UID, p = the raw UID it answered before, r = the new refresh_from (>= now + 29 days),
    and /v2/identity/buckets must list exactly the rotated buckets."""
    stamp = tag()
    emails = [f"salt.{i}.{stamp}@example.com" for i in range(1000)]
    derived = {e: op.salts.derive("email", e, op.scope) for e in emails}
    rows_before = {d.bucket_index: op.salts.bucket(d.bucket_index) for d in derived.values()}
    r, resp = v2_call(op, MAP_V3, {"email": emails})
    assert r.status == 200, str(r)
    before = dict(zip(emails, resp["body"]["email"]))
    for e in emails:
        assert before[e]["u"] == b64(derived[e].raw_uid), (e, before[e])

    t_rot = now_ms()
    out = cli_json(op, "salt", "rotate", "--fraction", "0.01", "--include-not-due")
    since = time.monotonic()
    total = derive.FULL_BUCKET_COUNT
    assert out["buckets"] == total and out["rotated"] == out["requested"], out
    assert round(total * 0.01) - 1 <= out["requested"] <= round(total * 0.01) + 1, out

    rotated_rows = db_rows(op.db_path, "SELECT position, id, last_updated, current_salt, previous_salt, refresh_from "
                                       "FROM salt_buckets WHERE last_updated >= ?", (t_rot,))
    assert len(rotated_rows) == out["rotated"], f"{len(rotated_rows)} buckets have last_updated >= the rotation"
    rotated_positions = {row["position"] for row in rotated_rows}
    hit = [e for e in emails if derived[e].bucket_index in rotated_positions]
    assert hit, "none of 1000 identities fell into a rotated bucket (chance ~4e-5): rotation is not spread"
    now_s = time.time()
    for e in hit:
        row = op.salts.bucket(derived[e].bucket_index)
        old = rows_before[derived[e].bucket_index]
        assert row["previous_salt"] == old["current_salt"], "the old salt must become previous_salt"
        assert row["current_salt"] and row["current_salt"] != old["current_salt"]
        assert row["refresh_from"] >= (now_s + 29 * DAY_S) * 1000, f"refresh_from {row['refresh_from']} < now+29 d"

    probe = hit[0]
    new_uid = b64(op.salts.derive("email", probe, op.scope).raw_uid)
    assert new_uid != before[probe]["u"]
    # the operator's own `identity derive` agrees on the bucket and the new raw UID
    shown = op.derive_cli("email", probe)
    assert (shown["bucket_index"], shown["raw_uid"]) == (derived[probe].bucket_index, new_uid), shown

    def map_updated():
        rr, rp = v2_call(op, MAP_V3, {"email": [probe]})
        return rr.status == 200 and rp["body"]["email"][0].get("u") == new_uid
    _, delay = wait_for("v3 map answers the new raw UID", map_updated, 120, interval_s=0.2, since=since)
    assert_within("salt rotate (1 %) -> v3 map answers the new salts", delay, SALT_RELOAD_BOUND_S)
    record("/ops/status last_configuration_reload_duration_ms",
           (ops_status(op)["sync"].get("last_configuration_reload_duration_ms") or 0) / 1000)

    as_of = now_ms()
    r, resp = v2_call(op, MAP_V3, {"email": emails})
    assert r.status == 200, str(r)
    after = dict(zip(emails, resp["body"]["email"]))
    for e in emails:
        expected = op.salts.mapping("email", e, op.scope, False, as_of)
        if e in hit:
            flh = derived[e].first_level_hash
            prev = b64(derive.raw_uid_v2(flh, rows_before[derived[e].bucket_index]["current_salt"]))
            assert after[e]["u"] == expected["u"] != before[e]["u"], (e, after[e])
            assert after[e]["p"] == before[e]["u"] == prev, f"p must be the raw UID answered before: {after[e]}"
            assert after[e]["r"] == expected["r"] >= int(now_s) + 29 * DAY_S, after[e]
        else:
            assert after[e] == before[e], f"{e}: bucket not rotated but the answer changed: {before[e]} -> {after[e]}"

    # tokens use the new salt as well
    t0 = now_ms()
    body = generated(op, op.dev, probe)
    got = check_token(op, body, probe, t0, now_ms())
    assert got["sdk"].uid == new_uid

    # /v2/identity/buckets since the rotation: exactly the rotated buckets
    r, resp = v2_call(op, BUCKETS, {"since_timestamp": derive.iso_local_ms(t_rot)}, timeout=300, slow=True)
    assert r.status == 200, str(r)
    listed = {b["bucket_id"]: b["last_updated"] for b in resp["body"]}
    expected_ids = {derive.bucket_id_text(op.salts.id_prefix, op.salts.id_secret, row["id"]): row["last_updated"]
                    for row in rotated_rows}
    assert set(listed) == set(expected_ids), \
        f"buckets since the rotation: {len(listed)} listed, {len(expected_ids)} rotated, " \
        f"{len(set(expected_ids) - set(listed))} missing, {len(set(listed) - set(expected_ids))} unexpected"
    for bid, lu in expected_ids.items():
        assert listed[bid] == derive.iso_local_ms(lu) >= derive.iso_local_ms(t_rot), (bid, listed[bid], lu)


# ------------------------------------------------------------------ stopping (last test of the module server)

def test_sigterm_stops_promptly_and_state_survives(op):
    """A node asked to stop (SIGTERM) must not hang on its background loops (store sync every 500 ms, rotation check
    every 60 s by default); everything changed through the CLI while it ran is still there after the restart."""
    email = f"sigterm.{tag()}@example.com"
    cli_json(op, "optout", "add", "--email", email)
    wait_for("opt-out applied", lambda: pub(op).generate_token(TokenGenerateInput.from_email(email)).is_optout(),
             WAIT_S)
    t = time.monotonic()
    op.proc.send_signal(signal.SIGTERM)
    try:
        op.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        op.proc.kill()
        op.proc.wait(10)
        pytest.fail("the server did not stop within 90 s of SIGTERM")
    delay = time.monotonic() - t
    record("SIGTERM -> process exited", delay)
    assert delay <= 10, f"the server took {delay:.1f} s to stop after SIGTERM"
    assert op.proc.returncode == 0, f"exit status {op.proc.returncode} after SIGTERM (graceful stop expected)"
    op.start()
    assert pub(op).generate_token(TokenGenerateInput.from_email(email)).is_optout()
    other = f"after.sigterm.{tag()}@example.com"
    t0 = now_ms()
    body = generated(op, op.dev, other)
    check_token(op, body, other, t0, now_ms())
    assert master_key_id(body["advertising_token"]) == max(
        k["id"] for k in store_keys(op.db_path) if k["keyset_id"] == -1), "restarted node lost the newest master key"


# ------------------------------------------------------------------ scheduled rotation

ROTATION_CONFIG = {"rotation_check_interval_seconds": 1, "key_rotation_interval_seconds": 5,
                   "key_activation_lead_seconds": 1, "key_rotation_grace_seconds": 60}
SCHEDULED_LIFETIMES = (20, 60, 2)  # identity, refresh, refresh-from: all covered by the 60 s grace


@pytest.fixture(scope="module")
def rotating_op(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ops-rotation")
    config = tmp / "rotation.json"
    config.write_text(json.dumps(ROTATION_CONFIG))
    o = make_operator(tmp, lifetimes=SCHEDULED_LIFETIMES, extra_serve_args=["--config", str(config)])
    yield o
    o.stop()


def keys_by_keyset(op) -> dict:
    out = {}
    for ks in cli_json(op, "keys", "list"):
        out[ks["keyset_id"]] = ks
    return out


def test_scheduled_key_rotation(rotating_op):
    op = rotating_op
    email = f"scheduled.{tag()}@example.com"
    p = pub(op)
    start_keys = {ks: {k["id"] for k in v["keys"]} for ks, v in keys_by_keyset(op).items()}
    first = p.generate_token(TokenGenerateInput.from_email(email))
    assert first.is_success(), first.status
    ident = first.get_identity()
    established = parse_ad_token(keys_of(op), ident.get_advertising_token())["established_ms"]
    masters, refresh_keys, chain = [], [], 0
    uid = raw_uid(op, email)
    end = time.monotonic() + 14
    while time.monotonic() < end:
        time.sleep(1.5)
        ref = p.refresh_token(ident)
        assert ref.is_success(), f"refresh #{chain + 1} of the chain failed: {ref.status}"
        ident = ref.get_identity()
        chain += 1
        keys = keys_of(op)
        t = parse_ad_token(keys, ident.get_advertising_token())
        assert t["raw_uid"] == base64.b64decode(uid) and t["established_ms"] == established
        masters.append(t["master_key_id"])
        refresh_keys.append(refresh_envelope_key_id(ident.get_refresh_token()))
        # the token decrypts with keys published by the server right now
        bc = BidstreamClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
        assert bc.refresh().success
        dec = bc.decrypt_token_into_raw_uid(ident.get_advertising_token(), None)
        assert dec.status == DecryptionStatus.SUCCESS and dec.uid == uid, dec.status
    end_keys = keys_by_keyset(op)
    print(f"[scheduled rotation] {chain} refreshes; master key ids {masters}; refresh key ids {refresh_keys}")
    for ks in (-1, -2, 2):
        new = [k for k in end_keys[ks]["keys"] if k["id"] not in start_keys[ks]]
        assert len(new) >= 2, f"keyset {ks} gained {len(new)} keys in ~14 s with a 5 s rotation interval: " \
                              f"{end_keys[ks]['keys']}"
        for k in new:
            assert k["activates"] - k["created"] == ROTATION_CONFIG["key_activation_lead_seconds"], \
                f"keyset {ks}: key {k} not published 1 s (key_activation_lead_seconds) before it activates"
        created = sorted(k["created"] for k in end_keys[ks]["keys"])
        gaps = [b - a for a, b in zip(created, created[1:]) if b - a < 4]
        assert not gaps, f"keyset {ks}: keys created less than the 5 s interval apart: {created}"
    assert len(set(masters)) >= 2, f"the refresh chain never moved to a new master key: {masters}"
    assert len(set(refresh_keys)) >= 2, f"the refresh chain never moved to a new refresh key: {refresh_keys}"
    # the rotation keeps running: a key the store gained just now reaches the server with its next reload
    wanted = {k["id"] for k in end_keys[-1]["keys"]}
    deadline = time.monotonic() + 5
    published = bidstream_keys(op)
    while not wanted <= published.keys() and time.monotonic() < deadline:
        time.sleep(0.2)
        published = bidstream_keys(op)
    for k in end_keys[-1]["keys"]:
        assert k["id"] in published, f"master key {k['id']} is in the store but not in /v2/key/bidstream after 5 s"
    # a key replaced during the run stays valid for everything it encrypted: lifetime + 60 s grace (README)
    grace = ROTATION_CONFIG["key_rotation_grace_seconds"]
    for ks, lifetime in ((-2, SCHEDULED_LIFETIMES[1]), (-1, SCHEDULED_LIFETIMES[0])):
        ordered = sorted(end_keys[ks]["keys"], key=lambda k: (k["activates"], k["id"]))
        for older, newer in zip(ordered, ordered[1:]):
            if newer["id"] in start_keys[ks]:
                continue
            assert older["expires"] >= newer["activates"] + lifetime + grace - 2, \
                f"keyset {ks}: key {older['id']} expires at {older['expires']}, but it encrypted tokens until key " \
                f"{newer['id']} activated at {newer['activates']}; those live {lifetime} s (+{grace} s grace)"
