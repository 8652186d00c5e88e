"""POST /v2/token/logout and POST /v2/optout/status (docs/PROTOCOL.md#logout;
docs/DECISIONS.md#opt-outs-are-local-and-durable: the opt-out is written durably to our own store before logout
returns, takes effect at once, and survives a restart).

The module logs out fresh identities once per server (module fixture), checks every consequence, restarts the
server (SIGTERM, serve again on the same data dir) and checks them all again."""

import base64
import json
import time

import pytest
from uid2_client import (IdentityMapClient, IdentityMapInput, IdentityMapV3Client, IdentityMapV3Input,
                         TokenGenerateInput, Uid2PublisherClient)

import cstg
import derive
from checks import assert_json_error, client_error, v2_call
from conftest import LIMITS
from derive import b64
from wire import _decrypt_gcm, db_rows, http, now_ms

LOGOUT = "/v2/token/logout"
STATUS = "/v2/optout/status"
OK = {"status": "success", "body": {"optout": "OK"}}
SLACK_MS = 3000


def h(text: str) -> str:
    return b64(derive.sha256(text))


def status_call(op, ids, client=None):
    return v2_call(op, STATUS, {"advertising_ids": ids}, client=client or op.mapper or op.dev)


class LoggedOut:
    """Identities logged out by the module fixture, with what was issued for them before."""

    def __init__(self, op):
        self.op = op
        tag = f"{op.scope}{now_ms()}"
        self.email = f"logout.{tag}@example.com"
        self.phone = "+1415" + str(now_ms())[-7:]
        self.kept_email = f"kept.{tag}@example.com"  # never logged out
        pub = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
        self.before = {}
        for kind, value in (("email", self.email), ("phone", self.phone), ("email", self.kept_email)):
            make = TokenGenerateInput.from_email if kind == "email" else TokenGenerateInput.from_phone
            gen = pub.generate_token(make(value))
            assert gen.is_success(), f"generate before logout: {gen.status}"
            self.before[value] = gen.get_identity()
        self.uids = {v: b64(op.salts.derive(k, v, op.scope, op.identity_v3).raw_uid)
                     for k, v in (("email", self.email), ("phone", self.phone), ("email", self.kept_email))}
        self.flhs = {v: op.salts.derive(k, v, op.scope, op.identity_v3).first_level_hash
                     for k, v in (("email", self.email), ("phone", self.phone))}
        self.t0 = now_ms()
        # email through the dev client (all roles), phone as phone_hash through an OPTOUT-only client
        self.responses = [v2_call(op, LOGOUT, {"email": self.email})]
        optout_client = op.optout_client or op.dev
        self.responses.append(v2_call(op, LOGOUT, {"phone_hash": h(self.phone)}, client=optout_client))
        self.t1 = now_ms()


@pytest.fixture(scope="module")
def logged_out(operator):
    return LoggedOut(operator)


def assert_logout_ok(lo):
    for r, resp in lo.responses:
        assert r.status == 200, str(r)
        assert resp == OK, resp


# ------------------------------------------------------------------ checks (run before and after the restart)

def check_store_rows(lo):
    for value, flh in lo.flhs.items():
        rows = db_rows(lo.op.db_path, "SELECT * FROM optouts WHERE flh = ?", (flh,))
        assert len(rows) == 1, f"no optouts row for the first-level hash of {value!r}"
        row = rows[0]
        assert "advertising_id" in row, f"optouts has no advertising_id column: {sorted(row)}"
        assert bytes(row["advertising_id"]) == base64.b64decode(lo.uids[value]), \
            f"stored advertising_id {bytes(row['advertising_id']).hex()} != raw UID {lo.uids[value]}"
        since = row["opted_out_since"]
        assert lo.t0 // 1000 - 1 <= since <= lo.t1 // 1000 + 1, f"opted_out_since {since} is not epoch s of logout"


def check_generate(lo):
    op = lo.op
    pub = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    assert pub.generate_token(TokenGenerateInput.from_email(lo.email)).is_optout()
    assert pub.generate_token(TokenGenerateInput.from_phone(lo.phone)).is_optout()
    assert pub.generate_token(TokenGenerateInput.from_email(lo.kept_email)).is_success()
    r, resp = v2_call(op, "/v2/token/generate", {"email_hash": h(lo.email)})
    assert r.status == 200 and resp == {"status": "optout"}, (str(r), resp)


def check_refresh(lo):
    op = lo.op
    pub = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    for value in (lo.email, lo.phone):
        ref = pub.refresh_token(lo.before[value])
        assert ref.is_optout(), f"refresh of a token issued before the logout of {value!r}: {ref.status}"
        ident = lo.before[value]
        r = http("POST", op.url("/v2/token/refresh"), ident.get_refresh_token().encode())  # unauthenticated
        assert r.status == 200, str(r)
        assert json.loads(_decrypt_gcm(base64.b64decode(r.body), base64.b64decode(
            ident.get_refresh_response_key()))) == {"status": "optout"}
    assert pub.refresh_token(lo.before[lo.kept_email]).is_success()


def check_identity_map(lo):
    op = lo.op
    c = op.mapper or op.dev
    r, resp = v2_call(op, "/v3/identity/map", {"email": [lo.email, lo.kept_email], "phone": [lo.phone],
                                               "email_hash": [h(lo.email)]}, client=c)
    assert r.status == 200, str(r)
    b = resp["body"]
    assert b["email"][0] == {"e": "optout"} and b["phone"][0] == {"e": "optout"} \
        and b["email_hash"][0] == {"e": "optout"}, b
    assert b["email"][1]["u"] == lo.uids[lo.kept_email]
    v3 = IdentityMapV3Client(op.base_url, c.api_key, c.secret_b64).generate_identity_map(
        IdentityMapV3Input.from_emails([lo.email]).with_phones([lo.phone]))
    assert v3.unmapped_identities[lo.email].raw_reason == "optout"
    assert v3.unmapped_identities[lo.phone].raw_reason == "optout"
    v2 = IdentityMapClient(op.base_url, c.api_key, c.secret_b64)
    resp = v2.generate_identity_map(IdentityMapInput.from_emails([lo.email, lo.kept_email]))
    assert resp.unmapped_identities[lo.email].get_reason() == "optout"
    assert resp.mapped_identities[lo.kept_email].get_raw_uid() == lo.uids[lo.kept_email]
    r, resp = v2_call(op, "/v2/identity/map", {"phone": [lo.phone]}, client=c)
    assert resp["body"] == {"mapped": [], "unmapped": [{"identifier": lo.phone, "reason": "optout"}]}, resp


def check_status(lo, clients=None):
    op = lo.op
    ids = [lo.uids[lo.email], lo.uids[lo.kept_email], lo.uids[lo.phone]]
    for c in clients or [op.mapper or op.dev]:
        r, resp = status_call(op, ids, client=c)
        assert r.status == 200, str(r)
        assert resp["status"] == "success" and set(resp["body"]) == {"opted_out"}, resp
        got = {e["advertising_id"]: e for e in resp["body"]["opted_out"]}
        assert set(got) == {lo.uids[lo.email], lo.uids[lo.phone]}, f"opted_out lists {sorted(got)}"
        for e in got.values():
            assert set(e) == {"advertising_id", "opted_out_since"}, e
            since = e["opted_out_since"]
            assert type(since) is int and since % 1000 == 0, f"opted_out_since must be whole seconds in ms: {since}"
            assert lo.t0 - SLACK_MS <= since <= lo.t1 + SLACK_MS, \
                f"opted_out_since {since} not ms near the logout ({lo.t0}..{lo.t1})"


def check_cstg(lo):
    kp = lo.op.keypair
    if kp is None:
        return
    box = cstg.CstgBox(kp.public_key)
    r = http("POST", lo.op.url(cstg.PATH), json.dumps(box.request(kp.subscription_id,
                                                                  {"email_hash": h(lo.email)})).encode(),
             {"Origin": "https://www.example.com"})
    assert r.status == 200, str(r)
    assert box.decrypt_response(r.body) == {"status": "optout"}


ALL_CHECKS = [check_store_rows, check_generate, check_refresh, check_identity_map, check_status, check_cstg]


# ------------------------------------------------------------------ tests (definition order matters: restart last)

def test_logout_answers_success(logged_out):
    assert_logout_ok(logged_out)


def test_logout_is_in_the_store_at_once(logged_out):
    assert_logout_ok(logged_out)
    check_store_rows(logged_out)


def test_generate_after_logout(logged_out):
    assert_logout_ok(logged_out)
    check_generate(logged_out)


def test_refresh_after_logout(logged_out):
    assert_logout_ok(logged_out)
    check_refresh(logged_out)


def test_identity_map_after_logout(logged_out):
    assert_logout_ok(logged_out)
    check_identity_map(logged_out)


def test_optout_status_after_logout(logged_out):
    assert_logout_ok(logged_out)
    op = logged_out.op
    check_status(logged_out, [c for c in (op.mapper, op.sharer, op.id_reader, op.dev) if c is not None])


def test_client_side_generate_after_logout(logged_out):
    assert_logout_ok(logged_out)
    logged_out.op.need("keypair")
    check_cstg(logged_out)


def test_logout_twice_keeps_the_first_time(operator):
    """docs/PROTOCOL.md#opt-out-status: the advertising-id index keeps the earliest opt-out time."""
    op = operator
    email = f"twice.{op.scope}.{now_ms()}@example.com"
    uid = b64(op.salts.derive("email", email, op.scope, op.identity_v3).raw_uid)
    r, resp = v2_call(op, LOGOUT, {"email": email})
    assert r.status == 200 and resp == OK, (str(r), resp)
    first = status_call(op, [uid])[1]["body"]["opted_out"]
    assert len(first) == 1, first
    time.sleep(1.1)
    r, resp = v2_call(op, LOGOUT, {"email": email})
    assert r.status == 200 and resp == OK, (str(r), resp)
    again = status_call(op, [uid])[1]["body"]["opted_out"]
    assert again == first, f"second logout changed the record: {first} -> {again}"


def test_everything_survives_a_restart(logged_out):
    assert_logout_ok(logged_out)
    op = logged_out.op
    t = now_ms()
    clean = op.stop()
    waited = (now_ms() - t) / 1000
    op.restart()  # serve again on the same data dir and port
    failures = [] if clean else [f"SIGTERM: the operator had not exited {waited:.1f} s after SIGTERM and was killed "
                                 "(SIGKILL); the checks below ran after that"]
    for check in ALL_CHECKS:
        try:
            check(logged_out)
        except AssertionError as e:
            failures.append(f"{check.__name__}: {e}")
    assert not failures, "after restart:\n" + "\n".join(failures)


# ------------------------------------------------------------------ logout errors and roles

@pytest.mark.parametrize("payload", [{}, None, {"email": "not-an-email"}, {"phone": "12345"},
                                     {"email_hash": "bad"}], ids=["empty", "none", "bad-email", "bad-phone",
                                                                  "bad-hash"])
def test_logout_without_valid_identity(operator, payload):
    r, _ = v2_call(operator, LOGOUT, payload)
    body = assert_json_error(r, 400, status_string="invalid_token")
    assert str(body.get("message", "")).startswith("Invalid Token presented"), body


def test_logout_needs_optout_role(operator):
    mapper = operator.need("mapper")
    r, _ = v2_call(operator, LOGOUT, {"email": "not.allowed@example.com"}, client=mapper)
    assert_json_error(r, 401, {"status": "unauthorized"})
    assert not db_rows(operator.db_path, "SELECT flh FROM optouts WHERE flh = ?",
                       (operator.salts.derive("email", "not.allowed@example.com", operator.scope).first_level_hash,))


# ------------------------------------------------------------------ /v2/optout/status errors and roles

def test_status_unknown_ids_and_test_identities(operator):
    op = operator
    optout_uid = b64(op.salts.derive("email", "optout@example.com", op.scope, op.identity_v3).raw_uid)
    r, resp = status_call(op, [b64(bytes(32)), "not even base64", optout_uid])
    assert r.status == 200, str(r)
    assert resp["body"] == {"opted_out": []}, "only ids in the opt-out store are listed"
    r, resp = status_call(op, [])
    assert r.status == 200 and resp["body"] == {"opted_out": []}, (str(r), resp)


def test_status_missing_parameter(operator):
    r, _ = v2_call(operator, STATUS, {"ids": []}, client=operator.mapper or operator.dev)
    client_error(r, "Required Parameter Missing: advertising_ids")


def test_status_invalid_body(operator):
    for payload in (None, b"not json"):
        r, _ = v2_call(operator, STATUS, payload, client=operator.mapper or operator.dev)
        assert_json_error(r, 400, status_string="client_error")


@pytest.mark.parametrize("ids", ["abc", [None], [1, 2], {"a": 1}], ids=["string", "null-element", "numbers",
                                                                        "object"])
def test_status_malformed_is_400(operator, ids):
    r, _ = v2_call(operator, STATUS, {"advertising_ids": ids}, client=operator.mapper or operator.dev)
    assert_json_error(r, 400, status_string="client_error")


def test_status_default_limit(operator):
    ids = [b64(derive.sha256(str(i))) for i in range(5001)]
    r, _ = status_call(operator, ids)
    client_error(r, "Request payload is too large")
    r, resp = status_call(operator, ids[:5000])
    assert r.status == 200 and resp["body"] == {"opted_out": []}, str(r)


def test_status_limit_flag(limits_operator):
    op, n = limits_operator, LIMITS["optout_status"]
    ids = [b64(derive.sha256(str(i))) for i in range(n + 1)]
    r, _ = status_call(op, ids[:n])
    assert r.status == 200, str(r)
    r, _ = status_call(op, ids)
    client_error(r, "Request payload is too large")


def test_status_roles(operator):
    other = operator.need("other_site")  # GENERATOR only
    r, _ = status_call(operator, [], client=other)
    assert_json_error(r, 401, {"status": "unauthorized"})
    r, _ = status_call(operator, [], client=operator.need("optout_client"))
    assert_json_error(r, 401, {"status": "unauthorized"})
    for c in (operator.need("sharer"), operator.need("id_reader"), operator.need("mapper")):
        r, _ = status_call(operator, [], client=c)
        assert r.status == 200, f"{c.roles}: {r}"


def test_logout_of_test_identities_does_not_change_their_rules(limits_operator):
    """docs/PROTOCOL.md#test-identities: validate@example.com / +12345678901 / refresh-optout@example.com are
    never opted out at generate or map, whatever the store holds (run on a separate server so other tests'
    identities stay clean); refresh-optout still answers optout on refresh. The store records them all the same."""
    op = limits_operator
    pub = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    idents = [("email", "validate@example.com"), ("phone", "+12345678901"), ("email", "refresh-optout@example.com")]
    for kind, value in idents:
        r, resp = v2_call(op, LOGOUT, {kind: value})
        assert r.status == 200 and resp == OK, (kind, value, str(r), resp)
    for kind, value in idents:
        make = TokenGenerateInput.from_email if kind == "email" else TokenGenerateInput.from_phone
        gen = pub.generate_token(make(value))
        assert gen.is_success(), f"{value}: generate must still succeed, got {gen.status}"
        ref = pub.refresh_token(gen.get_identity())
        if value == "refresh-optout@example.com":
            assert ref.is_optout(), ref.status
        else:
            assert ref.is_success(), f"{value}: refresh must still succeed, got {ref.status}"
    r, resp = v2_call(op, "/v3/identity/map", {"email": ["validate@example.com", "refresh-optout@example.com"],
                                               "phone": ["+12345678901"]})
    assert r.status == 200, str(r)
    for kind in ("email", "phone"):
        for elem in resp["body"][kind]:
            assert set(elem) == {"u", "p", "r"}, f"{kind}: test identities stay mapped: {resp['body']}"
    uids = [b64(op.salts.derive(k, v, op.scope, op.identity_v3).raw_uid) for k, v in idents[:2]]
    r, resp = status_call(op, uids)
    assert r.status == 200, str(r)
    assert {e["advertising_id"] for e in resp["body"]["opted_out"]} == set(uids), \
        "the opt-out status endpoint reports what the store holds"
