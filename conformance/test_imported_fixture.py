"""The reference operator's own core test data set (IABTechLab/uid2-operator, `src/test/resources/com.uid2.core/test`;
not in this repository: `UID_REFERENCE_FIXTURES` names the folder holding `com.uid2.core/test`, and without it these
tests are skipped with that reason) imported with
`import core` into a fresh data dir and served with the data set's lifetimes (3600 / 86400 / 900 s), then driven with
the fixture's credentials: publisher client of site 999, the DSP client of site 123, the client-side key pair
`4WvryDGbR5`. Expected values come from the fixture files and docs/TEST-VECTORS.md#hashing-chain-and-raw-uids,
never from this server: keys are built from the fixture's keyset_keys.json, raw UIDs from its salts.

The server runs with --no-rotation so the keys stay exactly the fixture's (the reference does not rotate by itself).
The opt-out import test runs last: it opts test@example.com out."""

import base64
import json
import time
from datetime import datetime, timezone

import pytest
from uid2_client import (BidstreamClient, EncryptionKey, EncryptionKeysCollection, IdentityMapV3Client,
                         IdentityMapV3Input, IdentityScope, TokenGenerateInput, Uid2PublisherClient)
from uid2_client.decryption_status import DecryptionStatus

import cstg
import derive
from checks import check_identity, v2_call
from derive import b64
from operator_proc import Client, operator_binary, run_cli
from ops_support import (OPTOUT_BOUND_S, fixture_core_dir, make_operator, optout_entry, record,
                         reference_skip_reason, wait_for)
from wire import MASTER_KEYSET_ID_FOR_SDKS, _decrypt_gcm, db_rows, http, now_ms, parse_ad_token, store_keys

pytestmark = pytest.mark.skipif(reference_skip_reason() is not None, reason=str(reference_skip_reason()))

LIFETIMES = (3600, 86400, 900)
EMAIL = "test@example.com"
# docs/TEST-VECTORS.md#hashing-chain-and-raw-uids (computed with the reference's code from the fixture's salts)
EMAIL_HASH = "lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs="
EMAIL_FLH = "RNzyiMMy106hy8MpBOsHBe+ZZkQR8IbUAG/IC2OrNr4="
EMAIL_RAW_UID = "yCevINTMQ+BMfihNbXjrDLbm/FF+JvBan5YqmToByik="
PHONE = "+12345678901"
PHONE_RAW_UID_V4 = "JCALIn2jvn98OvQPhijCPNLUHrq2SB09ftuzecdG7Vv7"   # bucket 2 of the fixture: v4 key material
BUCKET_IDS = {1000000: "bKaoveQoPR", 1000001: "b1aZVGl7aB", 1000002: "bv3WM92zaA", 1000003: "bl5yy6kr58",
              1000004: "be58Mjz13q"}
PUBLISHER_KEY = "UID2-C-L-999-fCXrMM.fsR3mDqAXELtWWMS+xG1s7RdgRTMqdOH2qaAo="
PUBLISHER_SECRET = "DzBzbjTJcYL0swDtFs2krRNu+g1Eokm2tBU4dEuD0Wk="
SUBSCRIPTION = "4WvryDGbR5"
ORIGIN = "http://localhost"


# ------------------------------------------------------------------ the fixture, read independently of the server

def fixture(name: str):
    return json.loads((fixture_core_dir() / name / f"{name}.json").read_text())


def fixture_keysets() -> dict:
    return {k["keyset_id"]: k for k in fixture("keysets")}


def fixture_keys(caller_site_id: int) -> EncryptionKeysCollection:
    """Every key of the fixture in the shape the SDK builds from a key download."""
    keysets = fixture_keysets()
    utc = lambda s: datetime.fromtimestamp(s, tz=timezone.utc)  # noqa: E731
    keys = [EncryptionKey(k["id"], keysets[k["keyset_id"]]["site_id"], utc(k["created"]), utc(k["activates"]),
                          utc(k["expires"]), base64.b64decode(k["secret"]),
                          MASTER_KEYSET_ID_FOR_SDKS if k["keyset_id"] == -1 else k["keyset_id"])
            for k in fixture("keyset_keys")]
    return EncryptionKeysCollection(keys, IdentityScope.UID2, caller_site_id=caller_site_id,
                                    master_keyset_id=MASTER_KEYSET_ID_FOR_SDKS)


def fixture_key_secret(key_id: int) -> bytes:
    return base64.b64decode(next(k["secret"] for k in fixture("keyset_keys") if k["id"] == key_id))


def fixture_client(site_id: int, role: str) -> Client:
    c = next(c for c in fixture("clients") if c["site_id"] == site_id and role in c["roles"])
    return Client(c["key"], c["secret"], c["site_id"], c["roles"])


class FixtureSalts:
    """The salt snapshot in force (docs/PROTOCOL.md#salt-snapshots) parsed from the fixture's CSV
    (docs/PROTOCOL.md#core-store-layout)."""

    def __init__(self):
        meta = json.loads((fixture_core_dir() / "salts" / "metadata.json").read_text())
        self.first_level, self.id_prefix, self.id_secret = meta["first_level"], meta["id_prefix"], meta["id_secret"]
        now = now_ms()
        chosen = None
        for snap in sorted(meta["salts"], key=lambda s: s["effective"]):
            if snap["effective"] <= now < snap.get("expires", now + 1):
                chosen = snap
            else:
                break
        chosen = chosen or max(meta["salts"], key=lambda s: s["effective"])
        lines = (fixture_core_dir() / "salts" / chosen["location"].rsplit("/", 1)[1]).read_text().splitlines()
        names = ["id", "last_updated", "current_salt", "refresh_from", "previous_salt", "current_key_id",
                 "current_key", "current_key_salt", "previous_key_id", "previous_key", "previous_key_salt"]
        self.buckets = []
        for line in filter(None, (ln.strip() for ln in lines)):
            f = [v.strip() or None for v in line.split(",")]
            row = dict(zip(names, f + [None] * (11 - len(f))))
            for n in ("id", "last_updated", "refresh_from", "current_key_id", "previous_key_id"):
                row[n] = int(row[n]) if row[n] is not None else None
            self.buckets.append(row)

    def expected(self, kind: str, value: str, as_of_ms: int) -> dict:
        """u / p / r (docs/PROTOCOL.md#raw-uid-versions) and the bucket,
        for raw UID v2 (UID2, identity_v3 off), environment test."""
        flh = derive.first_level_hash(derive.identity_hash(kind, value), self.first_level)
        entry = self.buckets[derive.bucket_index(flh, len(self.buckets))]
        id_type = derive.identity_type_of(kind)
        u = derive._uid_from(flh, entry["current_salt"], entry["current_key_id"], entry["current_key"],
                             entry["current_key_salt"], "uid2", id_type, False, "test")
        p = derive.previous_raw_uid(flh, entry, as_of_ms, "uid2", id_type, False, "test")
        return {"flh": flh, "entry": entry, "u": b64(u), "p": None if p is None else b64(p),
                "r": derive.refresh_from_ms(entry, as_of_ms) // 1000}


# ------------------------------------------------------------------ the server

@pytest.fixture(scope="module")
def op(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imported")
    data = tmp / "data"
    out = run_cli(operator_binary(), "import", "core", "--data-dir", str(data), str(fixture_core_dir()))
    assert "3600" in out and "86400" in out and "900" in out, f"import core did not report the runtime config: {out}"
    o = make_operator(tmp, lifetimes=LIFETIMES, data_dir=data, extra_serve_args=["--no-rotation"])
    o.dev = Client(PUBLISHER_KEY, PUBLISHER_SECRET, 999, ["GENERATOR", "MAPPER", "ID_READER", "SHARER", "OPTOUT"])
    yield o
    o.stop()


@pytest.fixture(scope="module")
def salts():
    return FixtureSalts()


@pytest.fixture(scope="module")
def issued(op):
    """A publisher identity for test@example.com issued before anything else happens to it."""
    p = Uid2PublisherClient(op.base_url, PUBLISHER_KEY, PUBLISHER_SECRET)
    t0 = now_ms()
    gen = p.generate_token(TokenGenerateInput.from_email(EMAIL))
    t1 = now_ms()
    assert gen.is_success(), gen.status
    return {"identity": gen.get_identity(), "t0": t0, "t1": t1}


def test_fixture_vectors_agree(salts):
    """The Python derivation over the fixture's salts reproduces
    docs/TEST-VECTORS.md#hashing-chain-and-raw-uids (so the checks below are sound)."""
    e = salts.expected("email", EMAIL, now_ms())
    assert b64(derive.identity_hash("email", EMAIL)) == EMAIL_HASH
    assert b64(e["flh"]) == EMAIL_FLH and e["u"] == EMAIL_RAW_UID and e["entry"]["id"] == 1000000
    assert salts.expected("phone", PHONE, now_ms())["u"] == PHONE_RAW_UID_V4
    for bid, text in BUCKET_IDS.items():
        assert derive.bucket_id_text(salts.id_prefix, salts.id_secret, bid) == text


def test_store_holds_the_fixture(op):
    got = {k["id"]: k for k in store_keys(op.db_path)}
    keysets = fixture_keysets()
    for k in fixture("keyset_keys"):
        s = got.get(k["id"])
        assert s is not None, f"fixture key {k['id']} not imported"
        # compared as bytes: key 11's secret is non-canonical base64 (`…aG1=`, non-zero padding bits)
        assert (s["keyset_id"], s["site_id"], s["created"], s["activates"], s["expires"],
                base64.b64decode(s["secret"])) == \
            (k["keyset_id"], keysets[k["keyset_id"]]["site_id"], k["created"], k["activates"], k["expires"],
             base64.b64decode(k["secret"])), (s, k)
    assert len(db_rows(op.db_path, "SELECT * FROM salt_buckets")) == 5


# ------------------------------------------------------------------ publisher tokens

def test_generate_and_refresh_chain(op, issued, salts):
    ident = issued["identity"]
    body = json.loads(ident.get_json_string())
    # against the fixture's own keys and salts
    keys = fixture_keys(999)
    t = parse_ad_token(keys, ident.get_advertising_token())
    assert t["master_key_id"] == 101, f"master key {t['master_key_id']}, the fixture's active master key is 101"
    assert t["site_key_id"] == 103, f"site key {t['site_key_id']}: site 999 has no keyset -> fallback key 103"
    assert b64(t["raw_uid"]) == EMAIL_RAW_UID and t["site_id"] == 999
    assert t["expires_ms"] - t["created_ms"] == LIFETIMES[0] * 1000
    env = base64.b64decode(ident.get_refresh_token())
    assert int.from_bytes(env[1:5], "big") == 102, "refresh envelope must use the fixture's refresh key 102"
    inner = json.loads(_decrypt_gcm(env[5:], fixture_key_secret(102)))
    assert inner["refresh_response_key"] == ident.get_refresh_response_key()
    # and everything else checkable, with the imported store
    check_identity(op, keys, body, "email", EMAIL, issued["t0"], issued["t1"])

    p = Uid2PublisherClient(op.base_url, PUBLISHER_KEY, PUBLISHER_SECRET)
    current = ident
    for i in range(3):
        t0 = now_ms()
        ref = p.refresh_token(current)
        t1 = now_ms()
        assert ref.is_success(), f"refresh #{i + 1}: {ref.status}"
        current = ref.get_identity()
        check_identity(op, keys, json.loads(current.get_json_string()), "email", EMAIL, t0, t1,
                       established_ms=t["established_ms"])
        assert b64(parse_ad_token(keys, current.get_advertising_token())["raw_uid"]) == EMAIL_RAW_UID


def test_identity_map_v3_and_buckets(op, salts):
    as_of = now_ms()
    r, resp = v2_call(op, "/v3/identity/map", {"email": [EMAIL], "phone": [PHONE]})
    assert r.status == 200, str(r)
    email_e, phone_e = salts.expected("email", EMAIL, as_of), salts.expected("phone", PHONE, as_of)
    assert resp["body"]["email"][0] == {"u": EMAIL_RAW_UID, "p": email_e["p"], "r": email_e["r"]}, resp["body"]
    assert email_e["p"] is not None and email_e["r"] == 1814140800, email_e  # bucket 1000000 has a previous salt
    assert resp["body"]["phone"][0] == {"u": PHONE_RAW_UID_V4, "p": phone_e["p"], "r": phone_e["r"]}, resp["body"]
    assert phone_e["p"] is not None  # bucket 1000002 has previous key material (v4 previous UID)
    sdk = IdentityMapV3Client(op.base_url, PUBLISHER_KEY, PUBLISHER_SECRET).generate_identity_map(
        IdentityMapV3Input.from_emails([EMAIL]))
    assert sdk.mapped_identities[EMAIL].current_raw_uid == EMAIL_RAW_UID

    r, resp = v2_call(op, "/v2/identity/buckets", {"since_timestamp": "2000-01-01T00:00:00"})
    assert r.status == 200, str(r)
    expected = sorted(({"bucket_id": BUCKET_IDS[b["id"]], "last_updated": derive.iso_local_ms(b["last_updated"])}
                       for b in salts.buckets), key=lambda x: x["bucket_id"])
    assert sorted(resp["body"], key=lambda x: x["bucket_id"]) == expected


# ------------------------------------------------------------------ DSP

def visible_key_ids(site_id: int, roles) -> list:
    """docs/PROTOCOL.md#key-distribution over the fixture's keysets."""
    keysets = fixture_keysets()
    out = []
    for k in fixture("keyset_keys"):
        ks = keysets.get(k["keyset_id"])
        if ks is None or ks["keyset_id"] == -2:
            continue
        if ks["keyset_id"] == -1 or (ks["enabled"] and (
                ks["site_id"] == site_id or ("ID_READER" in roles and ks["allowed_sites"] is None)
                or site_id in (ks["allowed_sites"] or []))):
            out.append(k["id"])
    return sorted(out)


def cstg_generate(op, email_hash: str, origin: str = ORIGIN):
    kp = next(k for k in fixture("client_side_keypairs") if k["subscription_id"] == SUBSCRIPTION)
    box = cstg.CstgBox(kp["public_key"])
    req = box.request(SUBSCRIPTION, {"email_hash": email_hash})
    r = http("POST", op.url(cstg.PATH), json.dumps(req).encode(),
             {"Content-Type": "text/plain;charset=UTF-8", "Origin": origin})
    return box, r


@pytest.fixture(scope="module")
def cstg_identity(op):
    t0 = now_ms()
    box, r = cstg_generate(op, EMAIL_HASH)
    t1 = now_ms()
    assert r.status == 200, str(r)
    resp = box.decrypt_response(r.body)
    assert resp.get("status") == "success", resp
    return {"body": resp["body"], "t0": t0, "t1": t1}


def test_client_side_generation_with_fixture_keypair(op, cstg_identity):
    body = cstg_identity["body"]
    keys = fixture_keys(123)
    t = parse_ad_token(keys, body["advertising_token"])
    assert b64(t["raw_uid"]) == EMAIL_RAW_UID and t["site_id"] == 123 and t["privacy_bits"] == 3, t
    assert (t["master_key_id"], t["site_key_id"]) == (101, 104), "site 123's default keyset 501 holds key 104"
    check_identity(op, keys, body, "email_hash", EMAIL_HASH, cstg_identity["t0"], cstg_identity["t1"], site_id=123,
                   privacy_bits=3)
    # refresh through /v2/token/refresh, as the JavaScript SDK does (no API key)
    t0 = now_ms()
    rr = http("POST", op.url("/v2/token/refresh"), body["refresh_token"].encode(), {"Origin": ORIGIN})
    t1 = now_ms()
    assert rr.status == 200, str(rr)
    resp = json.loads(_decrypt_gcm(base64.b64decode(rr.body), base64.b64decode(body["refresh_response_key"])))
    assert resp["status"] == "success", resp
    check_identity(op, keys, resp["body"], "email_hash", EMAIL_HASH, t0, t1, established_ms=t["established_ms"],
                   site_id=123, privacy_bits=3)
    # the site's other domain and its subdomains are accepted; other origins are not
    for origin, status in (("https://www.uidapi.com", 200), ("https://example.com", 403)):
        _, r = cstg_generate(op, EMAIL_HASH, origin)
        assert r.status == status, f"Origin {origin}: {r}"


def test_dsp_downloads_keys_and_decrypts(op, issued, cstg_identity):
    dsp = fixture_client(123, "ID_READER")
    assert dsp.api_key.startswith("UID2-C-L-123-")
    r, resp = v2_call(op, "/v2/key/bidstream", None, client=dsp)
    assert r.status == 200, str(r)
    body = resp["body"]
    assert sorted(k["id"] for k in body["keys"]) == visible_key_ids(123, dsp.roles), body["keys"]
    assert body["max_bidstream_lifetime_seconds"] == LIFETIMES[0] + 10
    sites = {s["id"]: s for s in fixture("sites")}
    keysets = fixture_keysets()
    shown = sorted({keysets[k["keyset_id"]]["site_id"] for k in fixture("keyset_keys")
                    if k["id"] in visible_key_ids(123, dsp.roles)})
    assert body["site_data"] == [{"id": s, "domain_names": sorted(sites[s]["domain_names"])}
                                 for s in shown if s in sites and sites[s].get("domain_names")], body["site_data"]

    bc = BidstreamClient(op.base_url, dsp.api_key, dsp.secret_b64)
    assert bc.refresh().success
    d = bc.decrypt_token_into_raw_uid(cstg_identity["body"]["advertising_token"], "localhost")
    assert d.status == DecryptionStatus.SUCCESS, d.status
    assert d.uid == EMAIL_RAW_UID and d.site_id == 123
    # a token of site 999 has its site layer under the fallback key 103, whose keyset does not list site 123
    d = bc.decrypt_token_into_raw_uid(issued["identity"].get_advertising_token(), None)
    expected = DecryptionStatus.SUCCESS if 103 in visible_key_ids(123, dsp.roles) \
        else DecryptionStatus.NOT_AUTHORIZED_FOR_KEY
    assert d.status == expected, d.status


# ------------------------------------------------------------------ opt-out import (last: opts test@example.com out)

def find_email_in_bucket(salts, position: int) -> str:
    for i in range(10000):
        e = f"v4.user.{i}@example.com"
        flh = derive.first_level_hash(derive.identity_hash("email", e), salts.first_level)
        if derive.bucket_index(flh, len(salts.buckets)) == position:
            return e
    raise AssertionError(f"no email found for bucket {position}")


def test_import_optout_file(op, issued, salts, tmp_path):
    p = Uid2PublisherClient(op.base_url, PUBLISHER_KEY, PUBLISHER_SECRET)
    v4_email = find_email_in_bucket(salts, 3)  # bucket 1000003: v4 key material, raw UID of 33 bytes
    v4 = salts.expected("email", v4_email, now_ms())
    v4_uid = base64.b64decode(v4["u"])
    assert len(v4_uid) == 33
    assert p.generate_token(TokenGenerateInput.from_email(v4_email)).is_success()
    now_s = int(time.time())
    since = {EMAIL: now_s - 3600, v4_email: now_s - 7200}
    data = optout_entry(base64.b64decode(EMAIL_FLH), base64.b64decode(EMAIL_RAW_UID), since[EMAIL]) + \
        optout_entry(v4["flh"], v4_uid, since[v4_email])
    assert len(data) == 144
    f = tmp_path / "optout-delta-999_2026-01-01T00.00.00Z_0badc0de.dat"
    f.write_bytes(data)

    run_cli(op.binary, "import", "optout", "--data-dir", str(op.data_dir), str(f))
    started = time.monotonic()
    try:
        _, delay = wait_for("the running server applies imported opt-outs",
                            lambda: p.generate_token(TokenGenerateInput.from_email(EMAIL)).is_optout(), 15,
                            since=started)
        record("import optout -> generate answers optout (live)", delay)
        live = delay
    except AssertionError:
        live = None

    def check():
        for e in (EMAIL, v4_email):
            assert p.generate_token(TokenGenerateInput.from_email(e)).is_optout(), f"generate for {e}"
        r, resp = v2_call(op, "/v2/optout/status", {"advertising_ids": [EMAIL_RAW_UID, v4["u"]]})
        assert r.status == 200, str(r)
        assert sorted(resp["body"]["opted_out"], key=lambda x: x["advertising_id"]) == sorted(
            [{"advertising_id": EMAIL_RAW_UID, "opted_out_since": since[EMAIL] * 1000},
             {"advertising_id": v4["u"], "opted_out_since": since[v4_email] * 1000}],
            key=lambda x: x["advertising_id"]), resp["body"]
        r, resp = v2_call(op, "/v3/identity/map", {"email": [EMAIL, v4_email]})
        assert resp["body"]["email"] == [{"e": "optout"}, {"e": "optout"}], resp["body"]
        assert p.refresh_token(issued["identity"]).is_optout(), "refresh of a token issued before the import"

    if live is not None:
        check()
    op.restart()
    check()
    assert live is not None, "imported opt-outs were applied only after a restart, not by the running server"
    assert live <= OPTOUT_BOUND_S, f"imported opt-outs took {live:.2f} s to apply (bound {OPTOUT_BOUND_S} s)"
