"""POST /v3/identity/map: the input -> answer facts pinned by the reference operator's endpoint tests and by the
Python SDK's integration tests, restated against this operator (REFERENCE_CASES.md lists where each comes from).

Every mapped value is checked against the suite's own derivation from the store's salts."""

import pytest
from urllib.error import HTTPError
from uid2_client import IdentityMapV3Client, IdentityMapV3Input
from uid2_client.unmapped_identity_reason import UnmappedIdentityReason

import derive
from checks import BINARY, client_error, v2_call
from derive import b64
from test_identity_map import check_v3_mapped
from wire import now_ms

V3 = "/v3/identity/map"
KINDS = ("email", "email_hash", "phone", "phone_hash")
EMPTY = {kind: [] for kind in KINDS}
MISSING = "Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash] must be specified"
INCORRECT = "Incorrect request format"


def h(text: str) -> str:
    return b64(derive.sha256(text))


def mapper(op):
    return op.mapper or op.dev


def v3(op, payload, **kw):
    return v2_call(op, V3, payload, client=mapper(op), **kw)


def sdk(op, api_key=None, secret=None):
    c = mapper(op)
    return IdentityMapV3Client(op.base_url, api_key or c.api_key, secret or c.secret_b64)


# ------------------------------------------------------------------ request shapes

@pytest.mark.parametrize("payload", [
    {"email": []},
    {"email_hash": None},
    dict(EMPTY),
    {kind: None for kind in KINDS},
    {"phone": [], "email_hash": None},
], ids=["email-empty", "email_hash-null", "all-four-empty", "all-four-null", "empty-and-null"])
def test_v3_empty_or_null_arrays_answer_200_with_four_empty_arrays(operator, payload):
    """v3 map: a request that names a kind with an empty or null array is valid and answers four empty arrays
    (the SDKs send all four empty arrays for an empty input)."""
    r, resp = v3(operator, payload)
    assert r.status == 200, str(r)
    assert resp == {"status": "success", "body": EMPTY}, resp


@pytest.mark.parametrize("payload", [None, {}], ids=["no-body", "empty-object"])
def test_v3_missing_body_or_empty_object_is_400(operator, payload):
    """v3 map: only a request naming none of the four kinds is refused as missing."""
    client_error(v3(operator, payload)[0], MISSING)


@pytest.mark.parametrize("payload", [{"invalid_key": []}, {"email": [None]}, {"email": ["some_email", None]}],
                         ids=["unknown-key", "null-element", "string-then-null"])
def test_v3_incorrect_input_formats_are_400(operator, payload):
    """v3 map: unknown keys and null elements are an incorrect request format."""
    client_error(v3(operator, payload)[0], INCORRECT)


@pytest.mark.parametrize("content_type", [None, BINARY], ids=["text", "octet-stream"])
def test_v3_mixed_input_answers_all_four_kinds_index_by_index(operator, content_type):
    """v3 map: mixed kinds (one of them an empty array) answer every kind, in input order, in both envelope
    encodings."""
    op = operator
    phone_hash = h("+15555555555")
    t0 = now_ms()
    r, resp = v3(op, {"email": ["test1@uid2.com", "test2@uid2.com"], "phone": [], "phone_hash": [phone_hash]},
                 content_type=content_type)
    t1 = now_ms()
    assert r.status == 200, str(r)
    assert resp["status"] == "success"
    body = resp["body"]
    assert set(body) == set(KINDS), body
    assert len(body["email"]) == 2 and len(body["phone_hash"]) == 1
    check_v3_mapped(op, body["email"][0], "email", "test1@uid2.com", t0, t1)
    check_v3_mapped(op, body["email"][1], "email", "test2@uid2.com", t0, t1)
    check_v3_mapped(op, body["phone_hash"][0], "phone_hash", phone_hash, t0, t1)
    assert body["email_hash"] == [] and body["phone"] == []


def test_v3_optout_and_invalid_identities_answer_error_reasons(operator):
    """v3 map: an opted-out identity answers {"e": "optout"}, an invalid one {"e": "invalid identifier"}."""
    r, resp = v3(operator, {"email": ["optout@example.com", "invalid_email"]})
    assert r.status == 200, str(r)
    assert resp["body"] == {"email": [{"e": "optout"}, {"e": "invalid identifier"}], "email_hash": [], "phone": [],
                            "phone_hash": []}, resp["body"]


def test_v3_bucket_without_previous_salt_has_null_p_and_r_from_the_bucket(operator):
    """v3 map: with no previous salt `p` is null; `r` is the bucket's refresh time in epoch seconds."""
    op = operator
    t0 = now_ms()
    r, resp = v3(op, {"email": ["test1@uid2.com"]})
    t1 = now_ms()
    assert r.status == 200, str(r)
    elem = resp["body"]["email"][0]
    entry = check_v3_mapped(op, elem, "email", "test1@uid2.com", t0, t1)["entry"]
    assert not entry["previous_salt"]
    assert elem["p"] is None
    if entry["refresh_from"] >= t1:
        assert elem["r"] == entry["refresh_from"] // 1000


# ------------------------------------------------------------------ normalization (the reference's input table)

# (raw email, its normalized SHA-256 in base64) - each raw form must map exactly like the given hash.
VALID_EMAILS = [
    ("TEst.TEST@Test.com ", "dvECjPKZHya0/SIhSGwP0m8SgTv1vzLxPULUOsm880M="),
    ("test.test@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
    ("test+test@test.com", "rQ4yzdOz4uG8N54326QyZD6/JwqrXn4lmy34cVCojB8="),
    ("+test@test.com", "weFizOVVWKlLfyorbBU8oxYDv4HJtTZCPMyZ4THzUQE="),
    ("test+test@gmail.com", "h5JGBrQTGorO7q6IaFMfu5cSqqB6XTp1aybOD11spnQ="),
    ("  testtest@test.com  ", "d1Lr/s4GLLX3SvQVMoQdIMfbQPMAGZYry+2V+0pZlQg="),
    (" TEstTEst@GMail.Com  ", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
    ("TEst.TEst+123@GMail.Com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
    ("\U0001F60Atesttest@test.com", "fAFEUqApQ0V/M9mLj/IO54CgKgtQuARKsOMqtFklD4k="),
    ("testtest@\U0001F60Atest.com", "tcng5pttf7Y2z4ylZTROvIMw1+IVrMpR4D1KeXSrdiM="),
    ("testtest@test.com\U0001F60A", "0qI21FPLkuez/8RswfmircHPYz9Dtf7/Nch1rSWEQf0="),
]
INVALID_EMAILS = ["", " @", "@", "a@", "@b", "@b.com", "+", " ", "+@gmail.com", ".+@gmail.com", "a@ba@z.com"]
FOO_BAR_HASH = "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs="  # SHA-256 of foo@bar.com
VALID_HASH_FORMS = [FOO_BAR_HASH, "0C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B",
                    "0c7e6a405862e402eb76a70f8a26fc732d07c32931e9fae9ab1582911d2e8a3b"]
INVALID_HASHES = ["", "asdaksjdakfj", "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs",
                  "QFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs",
                  "0Z7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B",
                  "0C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B00",
                  "000C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B"]
VALID_PHONES = ["+1234567890", "+12345678901", "+123456789012", "+1234567890123", "+12345678901234",
                "+123456789012345"]
INVALID_PHONES = ["", "asdaksjdakfj", "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs",
                  "QFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs",
                  "06a418f467a14e1631a317b107548a1039d26f12ea45301ab14e7684b36ede58",
                  "0C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B", "+", "12345678", "123456789",
                  "1234567890", "+12345678", "+123456789", "+ 12345678", "+ 123456789", "+ 1234 5678", "+ 1234 56789",
                  "+1234567890123456", "+1234567890A", "+1234567890 ", "+1234567890+", "+12345+67890",
                  "555-555-5555", "(555) 555-5555"]


def test_v3_raw_emails_normalize_to_the_reference_hashes(operator):
    """v3 map: trimming, lower-casing, gmail dot and plus rules, and non-ASCII pass-through give the same raw UID
    as the reference's normalized hash of each address."""
    r, resp = v3(operator, {"email": [e for e, _ in VALID_EMAILS], "email_hash": [x for _, x in VALID_EMAILS]})
    assert r.status == 200, str(r)
    body = resp["body"]
    for (email, _), raw, hashed in zip(VALID_EMAILS, body["email"], body["email_hash"]):
        assert "u" in raw and "u" in hashed, (email, raw, hashed)
        assert raw["u"] == hashed["u"], f"{email!r} does not map like its normalized hash"


def test_v3_invalid_emails_are_invalid_identifiers(operator):
    """v3 map: malformed addresses answer {"e": "invalid identifier"} each."""
    r, resp = v3(operator, {"email": INVALID_EMAILS})
    assert r.status == 200, str(r)
    assert resp["body"]["email"] == [{"e": "invalid identifier"}] * len(INVALID_EMAILS), resp["body"]["email"]


def test_v3_hash_accepted_as_base64_or_hex_of_either_case(operator):
    """v3 map: a SHA-256 given as base64, upper-case hex or lower-case hex is the same identity."""
    r, resp = v3(operator, {"email_hash": VALID_HASH_FORMS})
    assert r.status == 200, str(r)
    out = resp["body"]["email_hash"]
    assert all("u" in e for e in out), out
    assert len({e["u"] for e in out}) == 1, out


def test_v3_malformed_hashes_are_invalid_identifiers(operator):
    """v3 map: empty, short, unpadded, non-hex and over-long hashes are invalid identifiers."""
    r, resp = v3(operator, {"email_hash": INVALID_HASHES, "phone_hash": INVALID_HASHES})
    assert r.status == 200, str(r)
    for kind in ("email_hash", "phone_hash"):
        assert resp["body"][kind] == [{"e": "invalid identifier"}] * len(INVALID_HASHES), (kind, resp["body"][kind])


def test_v3_phone_numbers_must_be_e164(operator):
    """v3 map: '+' and 10 to 15 digits map; anything else is an invalid identifier."""
    r, resp = v3(operator, {"phone": VALID_PHONES + INVALID_PHONES})
    assert r.status == 200, str(r)
    out = resp["body"]["phone"]
    assert all("u" in e for e in out[:len(VALID_PHONES)]), out[:len(VALID_PHONES)]
    assert out[len(VALID_PHONES):] == [{"e": "invalid identifier"}] * len(INVALID_PHONES), out[len(VALID_PHONES):]


# ------------------------------------------------------------------ test identities

@pytest.mark.parametrize("kind,value,outcome", [
    ("email", "optout@example.com", "optout"), ("email_hash", h("optout@example.com"), "optout"),
    ("phone", "+00000000000", "optout"), ("phone_hash", h("+00000000000"), "optout"),
    ("email", "refresh-optout@example.com", "mapped"), ("email_hash", h("refresh-optout@example.com"), "mapped"),
    ("phone", "+00000000002", "mapped"), ("phone_hash", h("+00000000002"), "mapped"),
    ("email", "validate@example.com", "mapped"), ("phone", "+12345678901", "mapped"),
    ("email", "blah@unifiedid.com", "mapped"), ("phone", "+15555550100", "mapped"),
])
def test_v3_test_identities(operator, kind, value, outcome):
    """v3 map: the opt-out test identities are always opted out; the refresh-optout and validate identities, and
    ordinary ones, map."""
    r, resp = v3(operator, {kind: [value]})
    assert r.status == 200, str(r)
    elem = resp["body"][kind][0]
    if outcome == "optout":
        assert elem == {"e": "optout"}, elem
    else:
        assert set(elem) == {"u", "p", "r"}, elem


# ------------------------------------------------------------------ through the SDK's IdentityMapV3Client

def assert_mapped(resp, dii):
    assert dii in resp.mapped_identities and dii not in resp.unmapped_identities, (dii, resp.unmapped_identities)
    assert resp.mapped_identities[dii].current_raw_uid


def assert_unmapped(resp, reason, dii):
    assert dii in resp.unmapped_identities and dii not in resp.mapped_identities, dii
    assert resp.unmapped_identities[dii].reason == reason


def test_v3_sdk_empty_input_maps_nothing(operator):
    """v3 map (SDK): an empty input succeeds with nothing mapped and nothing unmapped."""
    resp = sdk(operator).generate_identity_map(IdentityMapV3Input.from_emails([]))
    assert resp.is_success()
    assert len(resp.mapped_identities) == 0 and len(resp.unmapped_identities) == 0


def test_v3_sdk_emails_with_and_without_optout(operator):
    """v3 map (SDK): ordinary emails map, the opt-out test email is unmapped with reason OPTOUT."""
    c = sdk(operator)
    resp = c.generate_identity_map(IdentityMapV3Input.from_emails(
        ["hopefully-not-opted-out@example.com", "somethingelse@example.com", "optout@example.com"]))
    assert_mapped(resp, "hopefully-not-opted-out@example.com")
    assert_mapped(resp, "somethingelse@example.com")
    assert_unmapped(resp, UnmappedIdentityReason.OPTOUT, "optout@example.com")
    resp = c.generate_identity_map(IdentityMapV3Input.from_emails(["optout@example.com"]))
    assert len(resp.mapped_identities) == 0
    assert_unmapped(resp, UnmappedIdentityReason.OPTOUT, "optout@example.com")


@pytest.mark.parametrize("make", [IdentityMapV3Input.from_hashed_emails, IdentityMapV3Input.from_hashed_phones],
                         ids=["hashed-email", "hashed-phone"])
def test_v3_sdk_invalid_hash_is_unmapped_invalid_identifier(operator, make):
    """v3 map (SDK): a hash that is not a hash is unmapped with reason INVALID_IDENTIFIER."""
    resp = sdk(operator).generate_identity_map(make(["this is not a hash"]))
    assert_unmapped(resp, UnmappedIdentityReason.INVALID_IDENTIFIER, "this is not a hash")


def test_v3_sdk_duplicates_map_to_one_raw_uid(operator):
    """v3 map (SDK): gmail spellings of one address map to one raw UID; duplicated hashes answer each copy."""
    c = sdk(operator)
    emails = ["JANE.SAOIRSE@gmail.com", "Jane.Saoirse@gmail.com", "JaneSaoirse+UID2@gmail.com",
              "janesaoirse@gmail.com", "JANE.SAOIRSE@gmail.com"]
    resp = c.generate_identity_map(IdentityMapV3Input.from_emails(emails))
    assert len(resp.mapped_identities) == 4
    assert len({resp.mapped_identities[e].current_raw_uid for e in emails}) == 1
    ok, out = h("hopefully-not-opted-out@example.com"), h("optout@example.com")
    resp = c.generate_identity_map(IdentityMapV3Input.from_hashed_emails([ok, ok, out, out]))
    assert_mapped(resp, ok)
    assert_unmapped(resp, UnmappedIdentityReason.OPTOUT, out)


def test_v3_sdk_all_kinds_in_one_request(operator):
    """v3 map (SDK): all four kinds at once, built in one go or one by one, map and opt out independently."""
    mapped_email, optout_email = "hopefully-not-opted-out@example.com", "optout@example.com"
    mapped_phone, optout_phone = "+12345678901", "+00000000000"
    inp = (IdentityMapV3Input.from_emails([mapped_email, optout_email])
           .with_hashed_emails([h("mapped-email@example.com"), h(optout_email)])
           .with_phones([mapped_phone, optout_phone, "+98765432109"])
           .with_hashed_phones([h(mapped_phone), h(optout_phone)]))
    resp = sdk(operator).generate_identity_map(inp)
    for dii in (mapped_email, h("mapped-email@example.com"), mapped_phone, "+98765432109", h(mapped_phone)):
        assert_mapped(resp, dii)
    for dii in (optout_email, h(optout_email), optout_phone, h(optout_phone)):
        assert_unmapped(resp, UnmappedIdentityReason.OPTOUT, dii)
    inp = IdentityMapV3Input()
    inp.with_email(mapped_email)
    inp.with_phone(optout_phone)
    inp.with_hashed_phone(h(mapped_phone))
    inp.with_hashed_email(h(optout_email))
    resp = sdk(operator).generate_identity_map(inp)
    assert_mapped(resp, mapped_email)
    assert_mapped(resp, h(mapped_phone))
    assert_unmapped(resp, UnmappedIdentityReason.OPTOUT, optout_phone)
    assert_unmapped(resp, UnmappedIdentityReason.OPTOUT, h(optout_email))


@pytest.mark.parametrize("bad", ["api_key", "secret"])
def test_v3_sdk_bad_credentials_raise_http_error(operator, bad):
    """v3 map (SDK): a wrong API key (401) or a wrong secret (400) surfaces as an HTTPError."""
    c = sdk(operator, api_key="bad-api-key") if bad == "api_key" else \
        sdk(operator, secret="wJ0hP19QU4hmpB64Y3fV2dAed8t/mupw3sjN5jNRFzg=")
    with pytest.raises(HTTPError):
        c.generate_identity_map(IdentityMapV3Input.from_emails(["hopefully-not-opted-out@example.com"]))
