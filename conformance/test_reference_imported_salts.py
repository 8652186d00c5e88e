"""Salt buckets the reference's tests set up with mocks, imported as a core data set: buckets carrying v4 key
material instead of a salt (raw UID v4), previous key material or salts, a previous salt older than 90 days, a
refresh_from in the past (REFERENCE_CASES.md: the v4-UID variants of the map, generate, refresh, validate,
client-generate and opt-out cases; v3IdentityMapNoPreviousAdvertisingId; testMappedIdentityWithOutdatedPrevious-
SaltReturnsNoPreviousUid; v3IdentityMapOutdatedRefreshFrom).

One data set of 64 buckets; bucket `position` gets layout `LAYOUTS[position % len(LAYOUTS)]`, and each case picks
identities that fall into buckets of the layout it needs. Expected raw UIDs are derived here from the data set as
written (derive.py), never read back from the operator's store. UID2 with raw UID v2 and EUID with raw UID v3 (the
scope also enters v4 raw UIDs)."""

import base64
import time

import pytest

import derive
from checks import BINARY, check_identity, v2_call
from core_layout import ALL_ROLES, DAY_MS, SITE_ID, client_entry, key_entry, operator_keysets, random_salt, \
    salt_line, site_entry, write_core_set
from derive import b64
from imported_state import serve_imported
from test_client_side import ORIGIN, generate as client_generate, success_body
from test_refresh import decrypt_refresh, post_refresh
from wire import now_ms, sdk_decrypt, sdk_key_collection

BUCKETS = 64
# The reference's key material (UIDOperatorVerticleTest.setupSaltsForV4Uid).
CURRENT_KEY = (1000000, "key12345key12345key12345key12345", "salt1234salt1234salt1234salt1234")
PREVIOUS_KEY = (1000001, "key12345key12345key12345key12346", "salt1234salt1234salt1234salt1235")

# name -> (current salt?, current key?, previous: None / "salt" / "key", days since last rotation, refresh_from in days)
LAYOUTS = {
    "v4-prev-v4": (False, True, "key", 1, 29),        # after: v4 UID, v4 previous UID
    "v4-prev-v3": (False, True, "salt", 1, 29),       # migration: v4 UID, v2/v3 previous UID
    "v4-no-prev": (False, True, None, 1, 29),
    "v3-prev-v4": (True, False, "key", 1, 29),        # rollback: v2/v3 UID, v4 previous UID
    "v3-prev-v3": (True, False, "salt", 1, 29),       # before
    "v3-no-prev": (True, False, None, 1, 29),
    "prev-91-days": (True, False, "salt", 91, 29),    # previous salt older than 90 days
    "prev-89-days": (True, False, "salt", 89, 1),     # still within 90 days
    "v4-prev-120-days": (False, True, "key", 120, 30),
    "refresh-from-passed": (True, False, None, 120, -30),
}
NAMES = list(LAYOUTS)
SCOPES = {"uid2": ("uid2", False), "euid-v3": ("euid", True)}
VALIDATE_EMAIL = "validate@example.com"


def bucket_entry(position: int, t_ms: int) -> dict:
    has_salt, has_key, previous, age_days, refresh_days = LAYOUTS[NAMES[position % len(NAMES)]]
    entry = {"id": position + 1, "last_updated": t_ms - age_days * DAY_MS, "refresh_from": t_ms + refresh_days * DAY_MS,
             "current_salt": random_salt() if has_salt else None, "previous_salt": None,
             "current_key_id": None, "current_key": None, "current_key_salt": None,
             "previous_key_id": None, "previous_key": None, "previous_key_salt": None}
    if has_key:
        entry["current_key_id"], entry["current_key"], entry["current_key_salt"] = CURRENT_KEY
    if previous == "salt":
        entry["previous_salt"] = random_salt()
    elif previous == "key":
        entry["previous_key_id"], entry["previous_key"], entry["previous_key_salt"] = PREVIOUS_KEY
    return entry


def line_of(e: dict) -> str:
    cur = (e["current_key_id"], e["current_key"], e["current_key_salt"]) if e["current_key"] else None
    prev = (e["previous_key_id"], e["previous_key"], e["previous_key_salt"]) if e["previous_key"] else None
    return salt_line(e["id"], e["last_updated"], e["refresh_from"], e["current_salt"] or "", e["previous_salt"] or "",
                     cur, prev)


class DataSet:
    """The buckets as written, and what the operator must answer for an identity."""

    def __init__(self, scope: str, identity_v3: bool):
        self.scope, self.identity_v3 = scope, identity_v3
        self.t_ms = int(time.time()) * 1000
        self.buckets = [bucket_entry(p, self.t_ms) for p in range(BUCKETS)]
        # Validate answers true only for its test identity: it must fall into a v4 bucket.
        self.first_level = random_salt()
        while self.layout_of("email", VALIDATE_EMAIL) != "v4-prev-v4":
            self.first_level = random_salt()
        self.header = None

    def place(self, kind: str, value: str):
        flh = derive.first_level_hash(derive.identity_hash(kind, value), self.first_level)
        return flh, self.buckets[derive.bucket_index(flh, BUCKETS)]

    def layout_of(self, kind: str, value: str) -> str:
        return NAMES[(self.place(kind, value)[1]["id"] - 1) % len(NAMES)]

    def current_uid(self, kind: str, value: str) -> bytes:
        flh, e = self.place(kind, value)
        return derive._uid_from(flh, e["current_salt"], e["current_key_id"], e["current_key"], e["current_key_salt"],
                                self.scope, derive.identity_type_of(kind), self.identity_v3, "test")

    def v3_answer(self, kind: str, value: str, as_of_ms: int) -> dict:
        flh, e = self.place(kind, value)
        prev = derive.previous_raw_uid(flh, e, as_of_ms, self.scope, derive.identity_type_of(kind), self.identity_v3)
        return {"u": b64(self.current_uid(kind, value)), "p": None if prev is None else b64(prev),
                "r": derive.refresh_from_ms(e, as_of_ms) // 1000}

    def find(self, kind: str, layout: str, count: int) -> list:
        """`count` identities of `kind` that fall into buckets of `layout`."""
        found, i = [], 0
        while len(found) < count:
            value = f"+1555{i:07d}" if kind.startswith("phone") else f"{layout}.{i}@example.com"
            if kind.endswith("_hash"):
                value = b64(derive.sha256(value))
            if self.layout_of(kind, value) == layout:
                found.append(value)
            i += 1
        return found


@pytest.fixture(scope="module", params=list(SCOPES), ids=list(SCOPES))
def imported(request, tmp_path_factory):
    scope, identity_v3 = SCOPES[request.param]
    tmp = tmp_path_factory.mktemp(f"reference-salts-{request.param}")
    data = DataSet(scope, identity_v3)
    t = data.t_ms // 1000
    entry, client = client_entry(scope, SITE_ID, ALL_ROLES)
    keysets = operator_keysets()
    keys = [key_entry(i + 1, ks["keyset_id"], t - 60, t + 30 * 86400) for i, ks in enumerate(keysets)]
    data.header = write_core_set(tmp / "core", sites=[site_entry(SITE_ID, domain_names=["example.com"])], clients=[entry],
                   keysets=keysets, keys=keys, salt_lines=[line_of(e) for e in data.buckets],
                   first_level=data.first_level)
    op = serve_imported(tmp, tmp / "core", client, scope=scope, identity_v3=identity_v3, keypair_site=SITE_ID)
    yield op, data
    op.stop()


def is_v4(raw_uid: bytes) -> bool:
    return len(raw_uid) == 33 and raw_uid[0] & 0x20 == 0x20


# ---------------------------------------------------------------- /v3/identity/map

@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
@pytest.mark.parametrize("layout", ["v4-prev-v4", "v4-prev-v3", "v4-no-prev", "v3-prev-v4", "v3-prev-v3",
                                    "v3-no-prev"])
def test_v3_mixed_input_maps_v4_and_v3_buckets_with_previous_uids(imported, layout, content_type):
    """v3 map (mixed input, all twelve variants): two emails, an empty phone list and a phone hash; `u` from the
    bucket's salt or its v4 key material, `p` from its previous salt or previous key material (null without one),
    `r` its refresh_from in seconds."""
    op, data = imported
    emails = data.find("email", layout, 2)
    phone_hash = data.find("phone_hash", layout, 1)
    t0 = now_ms()
    r, resp = v2_call(op, "/v3/identity/map", {"email": emails, "phone": [], "phone_hash": phone_hash},
                      content_type=content_type)
    assert r.status == 200 and resp["status"] == "success", str(r)
    body = resp["body"]
    assert set(body) == {"email", "email_hash", "phone", "phone_hash"}
    assert body["email"] == [data.v3_answer("email", e, t0) for e in emails]
    assert body["phone_hash"] == [data.v3_answer("phone_hash", phone_hash[0], t0)]
    assert body["email_hash"] == [] and body["phone"] == []
    for elem in body["email"] + body["phone_hash"]:
        assert is_v4(b64decode(elem["u"])) == layout.startswith("v4"), elem
        assert (elem["p"] is None) == layout.endswith("no-prev"), elem
        if elem["p"] is not None:
            assert is_v4(b64decode(elem["p"])) == layout.endswith("prev-v4"), elem


def b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@pytest.mark.parametrize("layout", ["prev-91-days", "v4-prev-120-days"])
def test_v3_previous_uid_older_than_90_days_is_null(imported, layout):
    """v3 map (no previous advertising id; outdated previous salt): a bucket last rotated more than 90 days ago
    answers `p` null although it still holds a previous salt (or previous key material); a bucket rotated 89 days
    ago still answers its previous raw UID."""
    op, data = imported
    old = data.find("email", layout, 2)
    recent = data.find("email", "prev-89-days", 1)
    t0 = now_ms()
    r, resp = v2_call(op, "/v3/identity/map", {"email": old + recent})
    assert r.status == 200, str(r)
    answers = resp["body"]["email"]
    for e, elem in zip(old, answers):
        assert data.place("email", e)[1]["previous_salt" if layout == "prev-91-days" else "previous_key"], \
            "the bucket does hold previous material"
        assert elem == data.v3_answer("email", e, t0) and elem["p"] is None, (e, elem)
    assert answers[2] == data.v3_answer("email", recent[0], t0) and answers[2]["p"] is not None, answers[2]


def test_v3_refresh_from_in_the_past_answers_the_next_utc_midnight(imported):
    """v3 map (outdated refresh_from): a bucket whose refresh_from passed 30 days ago answers `r` = the next UTC
    midnight after the request, in seconds."""
    op, data = imported
    emails = data.find("email", "refresh-from-passed", 2)
    t0 = now_ms()
    r, resp = v2_call(op, "/v3/identity/map", {"email": emails})
    t1 = now_ms()
    assert r.status == 200, str(r)
    midnights = {(t // DAY_MS + 1) * DAY_MS // 1000 for t in (t0, t1)}
    for e, elem in zip(emails, resp["body"]["email"]):
        assert elem["r"] in midnights, (elem, midnights)
        assert elem["u"] == b64(data.current_uid("email", e)) and elem["p"] is None


# ---------------------------------------------------------------- /v2/identity/map

def test_v2_batch_maps_v4_buckets(imported):
    """v2 map (batch emails, v4 UID): identifiers in buckets with key material map to their v4 raw UIDs, with
    the bucket's id."""
    op, data = imported
    emails = data.find("email", "v4-no-prev", 2) + data.find("email", "v3-no-prev", 1)
    r, resp = v2_call(op, "/v2/identity/map", {"email": emails})
    assert r.status == 200, str(r)
    mapped = resp["body"]["mapped"]
    assert [m["identifier"] for m in mapped] == emails
    for e, m in zip(emails, mapped):
        e_bucket = data.place("email", e)[1]
        assert m["advertising_id"] == b64(data.current_uid("email", e)), m
        assert m["bucket_id"] == derive.bucket_id_text(data.header["id_prefix"], data.header["id_secret"], e_bucket["id"]), m
    assert [is_v4(b64decode(m["advertising_id"])) for m in mapped] == [True, True, False]


# ---------------------------------------------------------------- tokens

@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
def test_generate_refresh_and_validate_carry_the_v4_raw_uid(imported, content_type):
    """generate (v4 UID), generate then refresh (v4 -> v4), generate then validate (v4 UID): the advertising
    token holds the bucket's v4 raw UID, the refreshed token the same, and validate (with its test identity, which
    this data set places in a v4 bucket) matches it."""
    op, data = imported
    email = VALIDATE_EMAIL
    expected = data.current_uid("email", email)
    keys = sdk_key_collection(op.db_path, op.scope, op.dev.site_id)
    t0 = now_ms()
    r, resp = v2_call(op, "/v2/token/generate", {"email": email}, content_type=content_type)
    t1 = now_ms()
    assert r.status == 200 and resp["status"] == "success", str(r)
    body = resp["body"]
    check_identity(op, keys, body, "email", email, t0, t1)
    assert sdk_decrypt(keys, body["advertising_token"]).uid == b64(expected) and is_v4(expected)

    refreshed = post_refresh(op, body["refresh_token"], op.dev.api_key)
    assert refreshed.status == 200, str(refreshed)
    new = decrypt_refresh(refreshed, body["refresh_response_key"])
    assert new["status"] == "success", new
    assert sdk_decrypt(keys, new["body"]["advertising_token"]).uid == b64(expected)

    r, resp = v2_call(op, "/v2/token/validate", {"token": body["advertising_token"], "email": email})
    assert r.status == 200 and resp == {"status": "success", "body": True}, (str(r), resp)


def test_client_generate_carries_the_v4_raw_uid(imported):
    """client-generate (v4 UID): the client-side token holds the bucket's v4 raw UID."""
    op, data = imported
    email_hash = data.find("email_hash", "v4-no-prev", 1)[0]
    box, r = client_generate(op, {"email_hash": email_hash}, keypair=op.keypair, origin=ORIGIN)
    body = success_body(box, r)
    keys = sdk_key_collection(op.db_path, op.scope, op.dev.site_id)
    assert sdk_decrypt(keys, body["advertising_token"]).uid == b64(data.current_uid("email_hash", email_hash))


def test_logout_then_optout_status_lists_the_v4_advertising_id(imported):
    """logout (v4 UID) and opt-out status (v4 UID): after an identity in a v4 bucket opts out, its v4 raw UID is
    listed by /v2/optout/status, and refreshing its token answers optout."""
    op, data = imported
    email = data.find("email", "v4-no-prev", 3)[2]
    r, resp = v2_call(op, "/v2/token/generate", {"email": email})
    assert r.status == 200, str(r)
    body = resp["body"]
    t0_s = now_ms() // 1000
    r, resp = v2_call(op, "/v2/token/logout", {"email": email})
    assert r.status == 200 and resp == {"status": "success", "body": {"optout": "OK"}}, (str(r), resp)
    advertising_id = b64(data.current_uid("email", email))
    r, resp = v2_call(op, "/v2/optout/status", {"advertising_ids": [advertising_id]})
    assert r.status == 200, str(r)
    listed = resp["body"]["opted_out"]
    assert [x["advertising_id"] for x in listed] == [advertising_id], listed
    assert listed[0]["opted_out_since"] >= (t0_s - 5) * 1000
    refreshed = post_refresh(op, body["refresh_token"], op.dev.api_key)
    assert refreshed.status == 200 and decrypt_refresh(refreshed, body["refresh_response_key"]) == {"status": "optout"}


# ---------------------------------------------------------------- a bucket that switched between salt and key material

@pytest.fixture(scope="module")
def switched(tmp_path_factory):
    """Two UID2 operators holding the same keys, clients and first-level salt; every bucket has a salt on one and
    v4 key material on the other, as a bucket has before and after a migration to v4 (or a rollback)."""
    tmp = tmp_path_factory.mktemp("reference-salts-switched")
    t = int(time.time())
    entry, client = client_entry("uid2", SITE_ID, ALL_ROLES)
    keysets = operator_keysets()
    keys = [key_entry(i + 1, ks["keyset_id"], t - 60, t + 30 * 86400) for i, ks in enumerate(keysets)]
    first_level = random_salt()
    t_ms = t * 1000
    salts = [random_salt() for _ in range(BUCKETS)]
    lines = {"salt": [salt_line(p + 1, t_ms, t_ms + 29 * DAY_MS, salts[p]) for p in range(BUCKETS)],
             "v4": [salt_line(p + 1, t_ms, t_ms + 29 * DAY_MS, "", salts[p], CURRENT_KEY) for p in range(BUCKETS)]}
    ops = {}
    for name, salt_lines in lines.items():
        write_core_set(tmp / f"core-{name}", sites=[site_entry(SITE_ID, domain_names=["example.com"])],
                       clients=[entry], keysets=keysets, keys=keys, salt_lines=salt_lines, first_level=first_level)
        ops[name] = serve_imported(tmp / name, tmp / f"core-{name}", client, keypair_site=SITE_ID)
    yield ops, first_level, salts
    for op in ops.values():
        op.stop()


@pytest.mark.parametrize("style", ["generate", "client-generate"])
@pytest.mark.parametrize("before, after", [("salt", "v4"), ("v4", "salt")], ids=["migration", "rollback"])
def test_refresh_after_the_bucket_switched_material_carries_the_new_raw_uid(switched, before, after, style):
    """generate then refresh, and client-generate then refresh (v2 UID -> v4 refreshed UID, and back): the
    refreshed advertising token holds the raw UID of the bucket's material at refresh time, not the one the first
    token carried."""
    ops, first_level, salts = switched
    email = "test@uid2.com"
    flh = derive.first_level_hash(derive.identity_hash("email", email), first_level)
    position = derive.bucket_index(flh, BUCKETS)
    uids = {"salt": derive.raw_uid_v2(flh, salts[position]),
            "v4": derive.raw_uid_v4(flh, *CURRENT_KEY, "uid2", "email", "test")}
    keys = sdk_key_collection(ops[before].db_path, "uid2", SITE_ID)
    if style == "generate":
        r, resp = v2_call(ops[before], "/v2/token/generate", {"email": email})
        assert r.status == 200 and resp["status"] == "success", str(r)
        body = resp["body"]
        api_key = ops[after].dev.api_key
    else:
        box, r = client_generate(ops[before], {"email_hash": b64(derive.sha256(email))}, keypair=ops[before].keypair,
                                 origin=ORIGIN)
        body = success_body(box, r)
        api_key = None  # browsers refresh without an API key
    assert sdk_decrypt(keys, body["advertising_token"]).uid == b64(uids[before])
    refreshed = post_refresh(ops[after], body["refresh_token"], api_key)
    assert refreshed.status == 200, str(refreshed)
    new = decrypt_refresh(refreshed, body["refresh_response_key"])
    assert new["status"] == "success", new
    assert sdk_decrypt(keys, new["body"]["advertising_token"]).uid == b64(uids[after])
