"""TCF consent on /v2/token/generate (docs/PROTOCOL.md#tcf-consent): honoured by EUID, ignored by UID2."""

import json

import pytest
from uid2_client import TokenGenerateInput

from checks import check_identity, v2_call
from wire import now_ms

SUFFICIENT = "CPehNtWPehNtWABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA"
MISSING_PURPOSE_1 = "CPehXK9PehXK9ABAMBFRACBoADAAAEJAAIYgAKwAQAKgArABAAqAAA"


def test_sufficient_consent_gives_tokens(operator, publisher, keys):
    t0 = now_ms()
    resp = publisher.generate_token(
        TokenGenerateInput.from_email("consenting@example.com").with_transparency_and_consent_string(SUFFICIENT))
    t1 = now_ms()
    assert resp.is_success(), resp.status
    check_identity(operator, keys, json.loads(resp.get_identity().get_json_string()), "email",
                   "consenting@example.com", t0, t1)


def test_insufficient_consent(operator):
    r, resp = v2_call(operator, "/v2/token/generate", {"email": "no.consent@example.com",
                                                       "tcf_consent_string": MISSING_PURPOSE_1})
    assert r.status == 200, str(r)
    if operator.scope == "euid":
        assert resp == {"status": "insufficient_user_consent"}
    else:
        assert resp["status"] == "success" and resp["body"]["advertising_token"].startswith("A4")


def test_sdk_surfaces_insufficient_consent_as_unexpected_status(operator, publisher):
    make = lambda: TokenGenerateInput.from_email("no.consent@example.com").with_transparency_and_consent_string(
        MISSING_PURPOSE_1)
    if operator.scope == "euid":
        with pytest.raises(ValueError, match="insufficient_user_consent"):
            publisher.generate_token(make())
    else:
        assert publisher.generate_token(make()).is_success()


@pytest.mark.parametrize("tcf", ["invalid_consent_string", "", None], ids=["garbage", "empty", "null"])
def test_invalid_consent_string(operator, tcf):
    r, resp = v2_call(operator, "/v2/token/generate", {"email": "bad.consent@example.com", "tcf_consent_string": tcf})
    if operator.scope == "euid":
        assert r.status == 400, str(r)
        assert r.json() == {"status": "client_error", "message": "User consent is invalid"}
    else:
        assert r.status == 200, str(r)
        assert resp["status"] == "success"


def test_no_consent_field_generates(operator):
    """Without a consent string EUID generates normally (the check only runs when the key is present)."""
    r, resp = v2_call(operator, "/v2/token/generate", {"email": "no.tcf.field@example.com"})
    assert r.status == 200, str(r)
    assert resp["status"] == "success"
