"""POST /v2/token/generate: the input -> answer facts pinned by the reference operator's endpoint and service tests
(EUID consent included) and by the Python SDK's publisher integration tests (REFERENCE_CASES.md)."""

import base64
import json
from urllib.error import HTTPError

import pytest
from uid2_client import IdentityTokens, TokenGenerateInput, Uid2PublisherClient

import derive
from checks import BINARY, assert_json_error, check_identity, v2_call
from derive import b64
from wire import http, now_ms, seal

GENERATE = "/v2/token/generate"
MISSING = "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"
# A TCF v2 string with vendor 21 and every purpose EUID needs (the reference's "sufficient" string).
SUFFICIENT_TCF = "CPehNtWPehNtWABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA"
MISSING_PURPOSE_1_TCF = "CPehXK9PehXK9ABAMBFRACBoADAAAEJAAIYgAKwAQAKgArABAAqAAA"
SDK_TCF = "CPhJRpMPhJRpMABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA"
# TCF v2 core string: bit offset and width of the special-feature opt-ins (after version, created, last updated,
# CMP id and version, consent screen, language, vendor list version, policy version and two flags).
SPECIAL_FEATURES_BIT, SPECIAL_FEATURES_BITS = 140, 12


def h(text: str) -> str:
    return b64(derive.sha256(text))


def generate(op, payload, **kw):
    return v2_call(op, GENERATE, payload, **kw)


def with_bits(tcf: str, offset: int, width: int, value: int) -> str:
    """The same consent string with `width` bits from bit `offset` (most significant first) set to `value`."""
    raw = base64.urlsafe_b64decode(tcf + "=" * (-len(tcf) % 4))
    total = len(raw) * 8
    shift = total - offset - width
    bits = int.from_bytes(raw, "big") & ~(((1 << width) - 1) << shift) | (value << shift)
    return base64.urlsafe_b64encode(bits.to_bytes(len(raw), "big")).decode().rstrip("=")


def without_special_features(tcf: str) -> str:
    """The same consent string with every special-feature opt-in cleared (e.g. no precise geolocation)."""
    return with_bits(tcf, SPECIAL_FEATURES_BIT, SPECIAL_FEATURES_BITS, 0)


# Edits of SUFFICIENT_TCF, one missing piece each (bit positions of that string: purpose consents from bit 152,
# purpose legitimate interests from 176, the single vendor-consent entry's id at 243, the single vendor-LI entry's
# id at 289, both range-encoded).
INSUFFICIENT_EDITS = {
    "purpose-4-consent-missing": (152 + 3, 1, 0),
    "purpose-7-li-missing": (176 + 6, 1, 0),
    "vendor-21-consent-missing": (243, 16, 17),
    "vendor-21-li-missing": (289, 16, 17),
}


def special_features(tcf: str) -> int:
    raw = base64.urlsafe_b64decode(tcf + "=" * (-len(tcf) % 4))
    bits = int.from_bytes(raw, "big")
    shift = len(raw) * 8 - SPECIAL_FEATURES_BIT - SPECIAL_FEATURES_BITS
    return (bits >> shift) & ((1 << SPECIAL_FEATURES_BITS) - 1)


# ------------------------------------------------------------------ conflicting or missing identities

@pytest.mark.parametrize("payload", [
    {"email": "test@uid2.com", "email_hash": h("test@uid2.com")},
    {"phone": "+15555555555", "phone_hash": h("+15555555555")},
    {"phone": "+15555555555", "email": "test@uid2.com"},
    {"phone_hash": h("+15555555555"), "email_hash": h("test@uid2.com")},
    None,
], ids=["email-and-hash", "phone-and-hash", "phone-and-email", "both-hashes", "no-payload"])
def test_generate_needs_exactly_one_identity(operator, payload):
    """generate: two identities, or none, is a 400 client_error with no body."""
    r, _ = generate(operator, payload)
    assert_json_error(r, 400, {"status": "client_error", "message": MISSING})


@pytest.mark.parametrize("headers", [{}, {"Referer": "test-referer"}], ids=["no-key", "referer-no-key"])
def test_generate_without_api_key_is_401(operator, headers):
    """generate: no API key (with or without a Referer) is 401 unauthorized."""
    env, _ = seal(operator.dev.secret, {"email": "test@uid2.com"})
    r = http("POST", operator.url(GENERATE), base64.b64encode(env), headers)
    assert_json_error(r, 401, {"status": "unauthorized"})


# ------------------------------------------------------------------ success

@pytest.mark.parametrize("kind,value,content_type", [
    ("email", "test@uid2.com", None), ("email", "test@uid2.com", BINARY), ("email_hash", h("test@uid2.com"), None),
    ("phone", "+15555555555", None), ("phone_hash", h("+15555555555"), None),
], ids=["email-text", "email-octet-stream", "email-hash", "phone", "phone-hash"])
def test_generate_issues_tokens_for_the_callers_site(operator, keys, kind, value, content_type):
    """generate: tokens carry the caller's site, the site's key, privacy bits without the client-side flags,
    the configured lifetimes, and the raw UID of the identity."""
    t0 = now_ms()
    r, resp = generate(operator, {kind: value}, content_type=content_type)
    t1 = now_ms()
    assert r.status == 200, str(r)
    assert resp["status"] == "success"
    got = check_identity(operator, keys, resp["body"], kind, value, t0, t1)
    assert got["ad"]["privacy_bits"] & 0b110 == 0, "client-side generated / opted-out bits must be clear"


@pytest.mark.parametrize("kind,value,outcome", [
    ("email", "optout@example.com", "optout"), ("email_hash", h("optout@example.com"), "optout"),
    ("phone", "+00000000000", "optout"), ("phone_hash", h("+00000000000"), "optout"),
    ("email", "refresh-optout@example.com", "success"), ("phone_hash", h("+00000000002"), "success"),
    ("email", "validate@example.com", "success"), ("phone", "+12345678901", "success"),
    ("email", "blah@unifiedid.com", "success"), ("phone_hash", h("+15555550100"), "success"),
])
def test_generate_test_identities(operator, kind, value, outcome):
    """generate: the opt-out test identities answer {"status": "optout"} with no opt-out record; the
    refresh-optout and validate identities and ordinary ones get tokens."""
    r, resp = generate(operator, {kind: value})
    assert r.status == 200, str(r)
    if outcome == "optout":
        assert resp == {"status": "optout"}, resp
    else:
        assert resp["status"] == "success" and "advertising_token" in resp["body"], resp


# ------------------------------------------------------------------ EUID consent (UID2 ignores the field)

def test_generate_invalid_tcf_consent_string(operator):
    """generate (EUID): an unparsable consent string is 400; UID2 ignores the field."""
    r, resp = generate(operator, {"email": "test@uid2.com", "tcf_consent_string": "invalid_consent_string"})
    if operator.scope == "euid":
        assert_json_error(r, 400, status_string="client_error")
    else:
        assert r.status == 200 and resp["status"] == "success", str(r)


def test_generate_without_tcf_consent_string(operator):
    """generate (EUID): no consent string at all generates normally."""
    r, resp = generate(operator, {"email": "test@uid2.com"})
    assert r.status == 200 and resp["status"] == "success", str(r)


def test_generate_insufficient_tcf_consent(operator):
    """generate (EUID): a string missing purpose 1 answers 200 {"status": "insufficient_user_consent"}."""
    r, resp = generate(operator, {"email": "test@uid2.com", "tcf_consent_string": MISSING_PURPOSE_1_TCF})
    assert r.status == 200, str(r)
    if operator.scope == "euid":
        assert resp == {"status": "insufficient_user_consent"}, resp
    else:
        assert resp["status"] == "success"


def test_generate_consent_does_not_need_precise_geolocation(operator):
    """generate (EUID): consent passes when the precise-geolocation special feature is not opted in."""
    tcf = without_special_features(SUFFICIENT_TCF)
    assert special_features(SUFFICIENT_TCF) != 0 and special_features(tcf) == 0, "the edit must clear a set bit"
    r, resp = generate(operator, {"email": "test@uid2.com", "tcf_consent_string": tcf})
    assert r.status == 200, str(r)
    assert resp["status"] == "success", resp


@pytest.mark.parametrize("edit", list(INSUFFICIENT_EDITS))
def test_generate_consent_needs_every_purpose_and_vendor_21(operator, edit):
    """generate (EUID): without consent for purpose 4, legitimate interest for purpose 7, or vendor 21 in the
    consent or legitimate-interest lists, the answer is insufficient_user_consent; UID2 ignores the string."""
    offset, width, value = INSUFFICIENT_EDITS[edit]
    tcf = with_bits(SUFFICIENT_TCF, offset, width, value)
    assert tcf != SUFFICIENT_TCF
    r, resp = generate(operator, {"email": "test@uid2.com", "tcf_consent_string": tcf})
    assert r.status == 200, str(r)
    if operator.scope == "euid":
        assert resp == {"status": "insufficient_user_consent"}, resp
    else:
        assert resp["status"] == "success"


# ------------------------------------------------------------------ through the SDK's publisher client

def test_sdk_generate_and_refresh(operator, publisher):
    """generate + refresh (SDK): an ordinary email and the validate phone get refreshable identities."""
    for make in (TokenGenerateInput.from_email("hopefully-not-opted-out@example.com"),
                 TokenGenerateInput.from_phone("+12345678901")):
        gen = publisher.generate_token(make.do_not_generate_tokens_for_opted_out())
        assert not gen.is_optout()
        ident = gen.get_identity()
        assert ident is not None and not ident.is_due_for_refresh() and ident.is_refreshable()
        ref = publisher.refresh_token(ident)
        assert ref.is_success() and not ref.is_optout()
        assert ref.get_identity() is not None and not ref.get_identity().is_due_for_refresh()


def test_sdk_refresh_optout_identity(operator, publisher):
    """generate + refresh (SDK): refresh-optout@example.com generates, and its refresh answers optout."""
    gen = publisher.generate_token(
        TokenGenerateInput.from_email("refresh-optout@example.com").do_not_generate_tokens_for_opted_out())
    assert not gen.is_optout() and gen.get_identity().is_refreshable()
    ref = publisher.refresh_token(gen.get_identity())
    assert ref.is_optout() and not ref.is_success()
    assert ref.get_identity() is None and ref.get_identity_json_string() is None


def test_sdk_bad_requests_raise(operator, publisher):
    """generate/refresh (SDK): a foreign expired identity, a wrong secret and a wrong API key are HTTP errors."""
    expired = {
        "advertising_token": "AgAAAAN6QZRCFTau+sfOlMMUY2ftElFMq2TCrcu1EAaD9WmEfoT2BWm2ZKz1tumbT00tWLffRDQ/9POXfA0O/"
                             "Ljszn7FLtG5EzTBM3HYs4f5irkqeEvu38DhVCxUEpI+gZZZkynRap1oYx6AmC/ip3rk+7pmqa3r3saDs1mPRSSTm"
                             "+Nh6A==",
        "refresh_token": "AAAAAARomrP3NjjH+8mt5djfTHbmRZXjOMnAN8WpjJoe30AhUCvYksO/xoDSj77GzWv4M99DhnPl2cVco8CZFTcE10"
                         "nauXI4Barr890ILnH0IIacOei5Zjwh6DycFkoXkAAuHY1zjmxb7niGLfSP2RctWkZdRVGWQv/UW/grw6+paU9bnKEWPz"
                         "VvLwwdW2NgjDKu+szE6A+b5hkY+I3voKoaz8/kLDmX8ddJGLy/YOh/LIveBspSAvEg+v89OuUCwAqm8L3Rt8PxDzDnt0"
                         "U4Na+AUawvvfsIhmsn/zMpRRks6GHhIAB/EQUHID8TedU8Hv1WFRsiraG9Dfn1Kc5/uYnDJhEagWc+7RgTGT+U5GqI6+"
                         "afrAl5091eBLbmvXnXn9ts",
        "identity_expires": 1668059799628, "refresh_expires": 1668142599628, "refresh_from": 1668056202628,
        "refresh_response_key": "P941vVeuyjaDRVnFQ8DPd0AZnW4bPeiJPXER2K9QXcU=",
    }
    with pytest.raises(HTTPError):
        publisher.refresh_token(IdentityTokens.from_json_string(json.dumps(expired)))
    bad_secret = Uid2PublisherClient(operator.base_url, operator.dev.api_key,
                                     "badSecretKeypB64Y3fV2dAed8t/mupw3sjN5jNRFzg=")
    with pytest.raises(HTTPError):
        bad_secret.generate_token(TokenGenerateInput.from_email("test@example.com"))
    bad_key = Uid2PublisherClient(operator.base_url, "not-real-key", operator.dev.secret_b64)
    with pytest.raises(HTTPError):
        bad_key.generate_token(TokenGenerateInput.from_email("test@example.com"))


def test_sdk_consent_strings(operator, publisher):
    """generate (SDK, EUID): the SDK's consent string gets tokens, an insufficient one raises, and the opt-out
    test identity with consent answers optout."""
    gen = publisher.generate_token(TokenGenerateInput.from_email("user@example.com")
                                   .with_transparency_and_consent_string(SDK_TCF))
    assert not gen.is_optout() and gen.get_identity().is_refreshable()
    insufficient = TokenGenerateInput.from_email("user@example.com").with_transparency_and_consent_string(
        MISSING_PURPOSE_1_TCF)
    if operator.scope == "euid":
        with pytest.raises(ValueError):
            publisher.generate_token(insufficient)
    else:
        assert publisher.generate_token(insufficient).is_success()
    gen = publisher.generate_token(TokenGenerateInput.from_email("optout@example.com")
                                   .do_not_generate_tokens_for_opted_out()
                                   .with_transparency_and_consent_string(SDK_TCF))
    assert gen.is_optout() and not gen.is_success() and gen.get_identity() is None
