"""Reference cases that depend on operator configuration, on one UID2 operator started with a configuration file
(REFERENCE_CASES.md): phone support off, app names provided in site_data, and custom bidstream and sharing
lifetimes."""

import json

import pytest

import derive
from checks import client_error, v2_call
from derive import b64
from operator_proc import SITE_999_APPS, SITE_999_DOMAINS, launch
from test_client_side import generate
from test_keys import BIDSTREAM, SHARING

CONFIG = {
    "enable_phone_support": False,
    "key_sharing_endpoint_provide_app_names": True,
    "max_bidstream_lifetime_seconds": 999999,
    "sharing_token_expiry_seconds": 2592001,
    "max_sharing_lifetime_seconds": 999999,
}
TOLERANCE = 10


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("op-reference-config")
    config = tmp / "operator-config.json"
    config.write_text(json.dumps(CONFIG))
    op = launch(tmp / "run", "uid2", extra_serve_args=["--config", str(config)])
    yield op
    op.stop()


def call(op, path, client):
    r, resp = v2_call(op, path, None, client=client)
    assert r.status == 200, f"{path}: {r}"
    return resp["body"]


def test_client_generate_phone_hash_without_phone_support(configured):
    """client-generate: with phone support off, a phone hash answers 400 "phone support not enabled"."""
    _, r = generate(configured, {"phone_hash": b64(derive.sha256("+10001110000"))})
    client_error(r, "phone support not enabled")


def test_bidstream_lifetime_follows_the_configuration(configured):
    """key/bidstream: max_bidstream_lifetime_seconds is the configured value + 10 s."""
    body = call(configured, BIDSTREAM, configured.need("id_reader"))
    assert body["max_bidstream_lifetime_seconds"] == CONFIG["max_bidstream_lifetime_seconds"] + TOLERANCE


def test_sharing_lifetimes_follow_the_configuration(configured):
    """key/sharing: token_expiry_seconds is the configured sharing expiry (a JSON string) and
    max_sharing_lifetime_seconds the configured maximum + 10 s."""
    body = call(configured, SHARING, configured.need("sharer"))
    assert body["token_expiry_seconds"] == str(CONFIG["sharing_token_expiry_seconds"])
    assert body["max_sharing_lifetime_seconds"] == CONFIG["max_sharing_lifetime_seconds"] + TOLERANCE


def test_site_data_with_app_names_provided(configured):
    """key/bidstream site_data, app names provided: domain names and app names in one sorted list, and a site
    with only app names is listed too."""
    op = configured
    site_data = {s["id"]: s["domain_names"] for s in call(op, BIDSTREAM, op.need("id_reader"))["site_data"]}
    assert site_data.get(999) == sorted(SITE_999_DOMAINS + SITE_999_APPS), site_data.get(999)
    mobile = op.need_site("mobile")
    assert mobile["id"] in site_data, site_data
