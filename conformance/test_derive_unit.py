"""Unit tests of the suite's own helpers against vectors produced outside this project
(docs/TEST-VECTORS.md). No server needed."""

import base64
import datetime as dt

import pytest
from uid2_client import EncryptionKey, EncryptionKeysCollection

import derive
from derive import b64
from wire import _decrypt_gcm, sdk_decrypt

FLS = "fOGY/aRE44peL23i+cE9MkJrzmEeNZZziNZBfq7qqk8="
SALT = "vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnss="
V4_KEY = (2100002, "key12345key12345key12345key12340", "salt1234salt1234salt1234salt1230")

# 11.2
EMAIL_CASES = [
    ("TEst.TEST@Test.com ", "test.test@test.com", "dvECjPKZHya0/SIhSGwP0m8SgTv1vzLxPULUOsm880M="),
    ("test.test@gmail.com", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
    ("test+test@test.com", "test+test@test.com", "rQ4yzdOz4uG8N54326QyZD6/JwqrXn4lmy34cVCojB8="),
    ("+test@test.com", "+test@test.com", "weFizOVVWKlLfyorbBU8oxYDv4HJtTZCPMyZ4THzUQE="),
    ("test+test@gmail.com", "test@gmail.com", "h5JGBrQTGorO7q6IaFMfu5cSqqB6XTp1aybOD11spnQ="),
    ("  testtest@test.com  ", "testtest@test.com", "d1Lr/s4GLLX3SvQVMoQdIMfbQPMAGZYry+2V+0pZlQg="),
    (" TEstTEst@GMail.Com  ", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
    ("TEst.TEst+123@GMail.Com", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
    ("\U0001F60Atesttest@test.com", "\U0001F60Atesttest@test.com", "fAFEUqApQ0V/M9mLj/IO54CgKgtQuARKsOMqtFklD4k="),
    ("testtest@\U0001F60Atest.com", "testtest@\U0001F60Atest.com", "tcng5pttf7Y2z4ylZTROvIMw1+IVrMpR4D1KeXSrdiM="),
    ("testtest@test.com\U0001F60A", "testtest@test.com\U0001F60A", "0qI21FPLkuez/8RswfmircHPYz9Dtf7/Nch1rSWEQf0="),
    ("te st@x.com", "test@x.com", None),
    ("x@do main.com ", "x@do main.com", None),
    ("A.B+C@GOOGLEMAIL.COM", "a.b+c@googlemail.com", None),
    ("\u00c4@x.com", "\u00c4@x.com", None),
]


@pytest.mark.parametrize("raw,normalized,hash_b64", EMAIL_CASES)
def test_email_normalization(raw, normalized, hash_b64):
    assert derive.normalize_email(raw) == normalized
    if hash_b64:
        assert b64(derive.identity_hash("email", raw)) == hash_b64


@pytest.mark.parametrize("raw", ["", " @", "@", "a@", "@b", "@b.com", "+", " ", "+@gmail.com", ".+@gmail.com",
                                 "a@ba@z.com"])
def test_invalid_emails(raw):
    assert derive.normalize_email(raw) is None


def test_hash_inputs():
    expected = "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs="
    assert b64(derive.sha256("foo@bar.com")) == expected
    for good in [expected, "0C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B",
                 "0c7e6a405862e402eb76a70f8a26fc732d07c32931e9fae9ab1582911d2e8a3b"]:
        assert derive.normalize_hash_input(good) == expected
    hex64 = "0C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B"
    for bad in ["", "asdaksjdakfj", expected[:-1], "QFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs",
                "0Z" + hex64[2:], hex64 + "00", "00" + hex64]:
        assert derive.normalize_hash_input(bad) is None, bad


@pytest.mark.parametrize("phone,ok", [
    *[(p, True) for p in ["+1234567890", "+12345678901", "+123456789012", "+1234567890123", "+12345678901234",
                          "+123456789012345"]],
    *[(p, False) for p in ["", "asdaksjdakfj", "+", "12345678", "1234567890", "+12345678", "+123456789",
                           "+ 12345678", "+ 1234 5678", "+1234567890123456", "+1234567890A", "+1234567890 ",
                           "+1234567890+", "+12345+67890", "555-555-5555", "(555) 555-5555",
                           "+\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660"]],
])
def test_phone_validation(phone, ok):
    assert derive.is_valid_phone(phone) is ok


def test_vectors_test_at_example_com():
    h = derive.identity_hash("email", "test@example.com")
    assert b64(h) == "lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs="
    flh = derive.first_level_hash(h, FLS)
    assert flh.hex() == "44dcf288c332d74ea1cbc32904eb0705ef99664411f086d4006fc80b63ab36be"
    assert derive.bucket_index(flh) == 282050
    assert derive.bucket_index(flh, 5) == 0
    assert b64(derive.raw_uid_v2(flh, SALT)) == "yCevINTMQ+BMfihNbXjrDLbm/FF+JvBan5YqmToByik="
    assert b64(derive.raw_uid_v3(flh, SALT, "uid2", "email")) == "AMgnryDUzEPgTH4oTW146wy25vxRfibwWp+WKpk6Acop"
    assert b64(derive.raw_uid_v3(flh, SALT, "euid", "email")) == "EMgnryDUzEPgTH4oTW146wy25vxRfibwWp+WKpk6Acop"
    v4 = {("uid2", "test"): "ICALIuJZ1GuUlIjXoglTXcwtpw1DRqpEXDeMQ2mYkUDz",
          ("uid2", "integ"): "YCALIrKWuXczr5H2zr3zyJ2RFFAnL400x6r0NoZ3ZFSn",
          ("uid2", "prod"): "oCALImM9K1AHZLtStVusMrnahOjVUj0GDUEOl9/usH7v",
          ("euid", "test"): "MCALIoeuOY4DnipcfAWVSUKgmLLNuEnMKOKprFtMdrLN",
          ("euid", "integ"): "cCALIs4Rm5NAOzIzmW9Jjqt66OWm5NX1OTFpArwDzsmA",
          ("euid", "prod"): "sCALIpicDBxmo2CavV7wnNSU9plguYNmkQat3P6WzMeL"}
    for (scope, env), expected in v4.items():
        assert b64(derive.raw_uid_v4(flh, *V4_KEY, scope, "email", env)) == expected, (scope, env)


def test_vectors_phone():
    h = derive.identity_hash("phone", "+12345678901")
    assert b64(h) == "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4="
    flh = derive.first_level_hash(h, FLS)
    assert b64(flh) == "urve3oGxLtO2WGhlQFKMzqhXOdYqSB53Rrgqpp9CFjY="
    assert derive.bucket_index(flh) == 764862 and derive.bucket_index(flh, 5) == 2
    assert b64(derive.raw_uid_v2(flh, SALT)) == "EYgbUgD8Fu9NiQZaSo7Ea1EjNE9ClW74BHj0hNuK/Mg="
    assert b64(derive.raw_uid_v3(flh, SALT, "uid2", "phone")) == "BBGIG1IA/BbvTYkGWkqOxGtRIzRPQpVu+AR49ITbivzI"
    assert b64(derive.raw_uid_v3(flh, SALT, "euid", "phone")) == "FBGIG1IA/BbvTYkGWkqOxGtRIzRPQpVu+AR49ITbivzI"
    assert b64(derive.raw_uid_v4(flh, *V4_KEY, "uid2", "phone", "test")) == \
        "JCALIn2jvn98OvQPhijCPNLUHrq2SB09ftuzecdG7Vv7"
    assert b64(derive.raw_uid_v4(flh, *V4_KEY, "euid", "phone", "prod")) == \
        "tCALImWUwT3Db2fuaiv4pIutgTP9H3MFTbJCRZfHigqg"


@pytest.mark.parametrize("email,h,flh,uid", [
    ("validate@example.com", "ntI244ZRTXwAwpki6/M5cyBYW7h/Wq576lnN3l9+W/c=",
     "FNRbc+HsgQYwm/ayjooe5zLbFPRUCPm587ODCTck9is=", "7uIp4G163UJ2V7qAW7dcV9rRsAgV23qE8+3jcIaJAvw="),
    ("optout@example.com", "DYsnJ8r5+cjRDHue98gIGDKvLIMuqAm/RRLODrjqK50=",
     "5ihBI2GMPQ3CugqR0ezR6/WCMmZjXYNAQ0hC2jQ3smM=", "Wu9Dk1UkywSKUjh+lxVxEi5w+aqoUc1n4lbEZrF07PE="),
])
def test_vectors_test_identities(email, h, flh, uid):
    hb = derive.identity_hash("email", email)
    assert b64(hb) == h
    f = derive.first_level_hash(hb, FLS)
    assert b64(f) == flh
    assert b64(derive.raw_uid_v2(f, SALT)) == uid


@pytest.mark.parametrize("kind,value,h", [
    ("email", "refresh-optout@example.com", "NaNI8RU0bL1Jpp1jJLC5aJO/lchc6gGhgXQIAwJ7cV4="),
    ("phone", "+00000000000", "313yQvZOTb0vjjEU7sTO/UWxGPzVppIbCyQEJEnfxLo="),
    ("phone", "+00000000002", "0VoxsIuk88qt7TnZaTC//C9Vur3pR1zBMIr1cJe7xjE="),
])
def test_test_identity_hashes(kind, value, h):
    assert b64(derive.identity_hash(kind, value)) == h


def test_v4_token_utils_vector():
    flh = base64.b64decode("fRdq9nN35EI0ljuka8NSeoXR7H7X4uIw80SYLEtEsGA=")
    uid = derive.raw_uid_v4(flh, 1000000, "key12345key12345key12345key12345", "salt1234salt1234salt1234salt1234",
                            "uid2", "email", "test")
    assert uid.hex() == "200f424063b43fb268d166469febb81891969ba92df994bb14506f0beb0dccc836"


def test_sdk_decrypts_foreign_v4_token_with_hand_built_key_collection():
    """docs/TEST-VECTORS.md#cross-sdk-advertising-token: our way of feeding keys to the SDK
    decrypts a token made by another SDK."""
    token = ("AIAAAACkOqJj9VoxXJNnuX3v-ymceRf8_Av0vA5asOj9YBZJc1kV1vHdmb0AIjlzWnFF-gxIlgXqhRFhPo3iXpugPBl3gv4GKnGkw-"
             "Zgm2QqMsDPPLpMCYiWrIUqHPm8hQiq9PuTU-Ba9xecRsSIAN0WCwKLwA_EDVdzmnLJu64dQoeYmuu3u1G2EuTkuMrevmP98tJqSUePKw"
             "nfK73-0Zdshw")
    master = bytes([139, 37, 241, 173, 18, 92, 36, 232, 165, 168, 23, 18, 38, 195, 123, 92, 160, 136, 185, 40, 91,
                    173, 165, 221, 168, 16, 169, 164, 38, 139, 8, 155])
    site = bytes([32, 251, 7, 194, 132, 154, 250, 86, 202, 116, 104, 29, 131, 192, 139, 215, 48, 164, 11, 65, 226,
                  110, 167, 14, 108, 51, 254, 125, 65, 24, 23, 133])
    t0, far = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2200, 1, 1, tzinfo=dt.timezone.utc)
    keys = EncryptionKeysCollection([EncryptionKey(164, -1, t0, t0, far, master, 9999999),
                                     EncryptionKey(165, 10, t0, t0, far, site, 20)])
    assert sdk_decrypt(keys, token).uid == "ywsvDNINiZOVSsfkHpLpSJzXzhr6Jx9Z/4Q0+lsEUvM="


def test_reference_request_envelope_opens():
    """docs/TEST-VECTORS.md#reference-request-envelope: our envelope layout reading matches the reference's."""
    secret = base64.b64decode("YGdzZw9oM2RzBgB8THMyAEe408lvdfsTsGteaLAGayY=")
    env = base64.b64decode(
        "ATDX9gBKxgQaLwUi9ZDbSqo1b66u55jEN322XSR+aCvOy/c3ZiaVOh8VG22pDUSSNaUqfUwwxxYT0pS9zjW7oVPCeluHU5GCc+6A+LUTIQ"
        "8vOR+1CN7ds/61Bp82RzKf5wPABMNtqr1XkoN6d5FU/R0vpxf2hfo1cYYmW0ziCy15pPh17GN2vNTn6YK6g+MAi/dDC7mG+Mxnh9ZaEz+3"
        "IetgDPWfp5zHh/T3LWhDAA+2drlDn8KwcQE/TYKh5raR4BDHmhgBUCU6+nymoWruNYxzcII63xMTLMTGzpinNnTL3iBPII9lKRJJ2ZrGjj"
        "gMMXi066iaDDpBHH3xY+bAwriU+6GEsE8bveRMwRqT83gmkYp6mn+75Yrpdw==")
    assert len(env) == 283 and env[0] == 1
    plain = _decrypt_gcm(env[1:], secret)
    assert int.from_bytes(plain[:8], "big") == 1710907366130
    assert plain[8:16].hex() == "30e8280192351c0c"
    assert b'"email_hash"' in plain[16:]
