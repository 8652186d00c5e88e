"""POST /v2/token/logout and POST /v2/optout/status: the input -> answer facts pinned by the reference operator's
endpoint tests (REFERENCE_CASES.md), restated against this operator. The reference forwards logout to a separate
opt-out service; here the opt-out is written to the operator's own store, so the answers are
checked end to end."""

import pytest

import derive
from checks import BINARY, assert_json_error, client_error, v2_call
from derive import b64
from wire import now_ms

LOGOUT = "/v2/token/logout"
STATUS = "/v2/optout/status"
OK = {"status": "success", "body": {"optout": "OK"}}


def fresh_email(op, tag):
    return f"ref.{tag}.{op.scope}.{now_ms()}@example.com"


@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
def test_logout_answers_optout_ok(operator, content_type):
    """logout: an OPTOUT client's logout of an email answers {"optout": "OK"} in both envelope encodings."""
    r, resp = v2_call(operator, LOGOUT, {"email": fresh_email(operator, "logout")}, content_type=content_type)
    assert r.status == 200, str(r)
    assert resp == OK


def test_logout_with_client_ip_answers_optout_ok(operator):
    """logout: an extra clientIp field is accepted."""
    r, resp = v2_call(operator, LOGOUT, {"email": fresh_email(operator, "ip"), "clientIp": "127.0.0.1"})
    assert r.status == 200, str(r)
    assert resp == OK


def status(op, ids, client=None, **kw):
    return v2_call(op, STATUS, {"advertising_ids": ids}, client=client or op.mapper or op.dev, **kw)


def test_status_lists_only_opted_out_ids_with_millisecond_times(operator):
    """optout status: only opted-out raw UIDs are listed, each with opted_out_since in epoch milliseconds
    (whole seconds, as the opt-out store keeps them)."""
    op = operator
    out_email, kept_email = fresh_email(op, "status.out"), fresh_email(op, "status.kept")
    t0 = now_ms()
    r, _ = v2_call(op, LOGOUT, {"email": out_email})
    assert r.status == 200, str(r)
    t1 = now_ms()
    uid = lambda e: b64(op.salts.derive("email", e, op.scope, op.identity_v3).raw_uid)
    r, resp = status(op, [uid(out_email), uid(kept_email)])
    assert r.status == 200, str(r)
    listed = resp["body"]["opted_out"]
    assert [e["advertising_id"] for e in listed] == [uid(out_email)], listed
    since = listed[0]["opted_out_since"]
    assert type(since) is int and t0 - 1000 <= since <= t1 + 1000, (since, t0, t1)
    assert since % 1000 == 0, f"opted_out_since {since} is not a whole second in milliseconds"


@pytest.mark.parametrize("who", ["mapper", "id_reader", "sharer"])
def test_status_is_open_to_mapper_id_reader_and_sharer(operator, who):
    """optout status: MAPPER, ID_READER and SHARER clients may ask."""
    r, resp = status(operator, [b64(bytes(32))], client=operator.need(who))
    assert r.status == 200, str(r)
    assert resp["body"] == {"opted_out": []}


@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
def test_status_refuses_a_generator_client(operator, content_type):
    """optout status: a GENERATOR-only client is 401 unauthorized."""
    r, _ = v2_call(operator, STATUS, {}, client=operator.need("other_site"), content_type=content_type)
    assert_json_error(r, 401, {"status": "unauthorized"})


def test_status_over_the_limit_is_too_large(operator):
    """optout status: one id over the batch limit answers "Request payload is too large"."""
    ids = [b64(derive.sha256(f"status.limit.{i}")) for i in range(5001)]
    client_error(status(operator, ids)[0], "Request payload is too large")


def test_status_without_advertising_ids_is_missing_parameter(operator):
    """optout status: a body without advertising_ids names the missing parameter."""
    r, _ = v2_call(operator, STATUS, {"advertising": [b64(bytes(32))]}, client=operator.mapper or operator.dev)
    client_error(r, "Required Parameter Missing: advertising_ids")
