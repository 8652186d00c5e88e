"""Unit tests of the suite's client-side generation client (cstg.py) against the vectors of
docs/TEST-VECTORS.md#client-side-generation-keys, and of the bucket-id helper against docs/TEST-VECTORS.md#bucket-ids.
No server needed."""

import base64
import json

import pytest

import cstg
import derive

SERVER_PUBLIC = ("UID2-X-L-MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsziOqRXZ7II0uJusaMxxCxlxgj8el/MUYLFMtWfB71Q3G1juyrAnz"
                 "yqruNiPPnIuTETfFOridglP9UQNlwzNQg==")
SERVER_PRIVATE = "UID2-Y-L-MEECAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQcEJzAlAgEBBCBop1Dw/IwDcstgicr/3tDoyR3OIpgAWgw8mD6oTO+1ug=="
CLIENT_PRIVATE = "MEECAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQcEJzAlAgEBBCDsqxZicsGytVqN2HZqNDHtV422Lxio8m1vlflq4Jb47Q=="
CLIENT_PUBLIC = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE92+xlW2eIrXsDzV4cSfldDKxLXHsMmjLIqpdwOqJ29pWTNnZMaY2ycZHFpxbp6U"
                 "lQ6vVSpKwImTKr3uikm9yCw==")
SHARED = "Gq6SeZEoOPZ9Y3QBsILkl9BdtNDeTKHopTLxijhy5AM="


def test_ecdh_vector_both_directions():
    s1 = cstg.shared_secret(cstg.load_private_key(SERVER_PRIVATE), cstg.load_public_key(CLIENT_PUBLIC))
    s2 = cstg.shared_secret(cstg.load_private_key(CLIENT_PRIVATE), cstg.load_public_key(SERVER_PUBLIC))
    assert base64.b64encode(s1).decode() == SHARED
    assert s1 == s2 and len(s1) == 32


def test_box_with_fixed_client_key_uses_vector_secret_and_spki():
    box = cstg.CstgBox(SERVER_PUBLIC, cstg.load_private_key(CLIENT_PRIVATE))
    assert base64.b64encode(box.key).decode() == SHARED
    assert box.client_public_b64 == CLIENT_PUBLIC  # SPKI DER, standard base64, as WebCrypto exportKey('spki')


@pytest.mark.parametrize("app_name", [None, "com.example.app"])
def test_request_round_trip_through_a_server_side_reading(app_name):
    box = cstg.CstgBox(SERVER_PUBLIC)
    ident = {"email_hash": "LdhtUlMQ58ZZy5YUqGPRQw5xUMS5dXG5ocJHYJHbAKI="}
    req = box.request("4WvryDGbR5", ident, timestamp=1700000000123, app_name=app_name)
    assert set(req) == {"payload", "iv", "public_key", "timestamp", "subscription_id"} | (
        {"app_name"} if app_name else set())
    assert len(base64.b64decode(req["iv"])) == 12
    assert len(base64.b64decode(req["payload"])) == len(json.dumps(ident)) + 16
    server_private = cstg.load_private_key(SERVER_PRIVATE)
    assert cstg.server_open_request(server_private, req) == ident
    sealed = cstg.server_seal_response(server_private, req["public_key"], {"status": "optout"})
    assert box.decrypt_response(sealed) == {"status": "optout"}


def test_aad_text():
    assert cstg.aad(1700000000123) == b"[1700000000123]"
    assert cstg.aad(1700000000123, "com.x.app") == b'[1700000000123,"com.x.app"]'


def test_aad_is_bound():
    box = cstg.CstgBox(SERVER_PUBLIC)
    req = box.request("sub", {"email_hash": "x"}, timestamp=1)
    req["timestamp"] = 2
    with pytest.raises(Exception):
        cstg.server_open_request(cstg.load_private_key(SERVER_PRIVATE), req)


@pytest.mark.parametrize("entry_id,expected", [(1000000, "bKaoveQoPR"), (1000001, "b1aZVGl7aB"),
                                               (1000002, "bv3WM92zaA"), (1000003, "bl5yy6kr58"),
                                               (1000004, "be58Mjz13q")])
def test_bucket_id_vectors(entry_id, expected):
    assert derive.bucket_id_text("b", "HF6Qz42HBbVHINxhh191dB09BCuTWyBkNtrNicO4ZCw=", entry_id) == expected


def test_refresh_from_and_previous_uid_rules():
    day = derive.DAY_MS
    entry = {"last_updated": 10 * day, "refresh_from": 40 * day, "previous_salt": "salt", "previous_key_id": None,
             "previous_key": None, "previous_key_salt": None}
    assert derive.refresh_from_ms(entry, 40 * day) == 40 * day
    assert derive.refresh_from_ms(entry, 40 * day + 1) == 41 * day
    flh = bytes(32)
    assert derive.previous_raw_uid(flh, entry, 99 * day + day - 1, "uid2", "email", False) is not None
    assert derive.previous_raw_uid(flh, entry, 100 * day, "uid2", "email", False) is None
    assert derive.previous_raw_uid(flh, dict(entry, previous_salt=None), 11 * day, "uid2", "email", False) is None


def test_iso_local_ms():
    assert derive.iso_local_ms(1654469523109) == "2022-06-05T22:52:03.109"
    assert derive.iso_local_ms(1654469523000) == "2022-06-05T22:52:03.000"


def test_fixture_keypair_vector():
    """docs/TEST-VECTORS.md#client-side-generation-keys: fixture keypair 4WvryDGbR5's private key
    × the test client public key."""
    fixture_private = "UID2-Y-L-MEECAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQcEJzAlAgEBBCC5kOSRVD+qhAZqf0L4LGbmAhdy5HpIptwXE72jxhwo6w=="
    fixture_public = ("UID2-X-L-MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtXJdTSZAYHvoRDWiehMHoWF1BNPuqLs5w2ZHiAZ1IJc7O4/z0oj"
                      "PTB0V+KYX/wxQK0hxx6kxCvHj335eI/ZQsQ==")
    s = cstg.shared_secret(cstg.load_private_key(fixture_private), cstg.load_public_key(CLIENT_PUBLIC))
    assert base64.b64encode(s).decode() == "uB89QzhyC2QSZVAlcQqElgYwepmegFl9bRRYQGZ+GYg="
    box = cstg.CstgBox(fixture_public, cstg.load_private_key(CLIENT_PRIVATE))
    assert box.key == s
