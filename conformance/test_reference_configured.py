"""Reference cases that depend on operator configuration, on one UID2 operator started with a configuration file
(REFERENCE_CASES.md): phone support off, app names provided in site_data, and custom bidstream and sharing
lifetimes."""

import json

import pytest

import derive
from checks import assert_json_error, client_error, v2_call
from derive import b64
from operator_proc import SITE_999_APPS, SITE_999_DOMAINS, create_keypair, launch, run_cli_json
from ops_support import CONFIG_BOUND_S, wait_for
from test_client_side import generate
from test_keys import BIDSTREAM, SHARING
from wire import db_rows

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


# ------------------------------------------------------------------ the reference's origin table, on its own domains

REFERENCE_DOMAINS = ["examplewebsite.com", "e-wb.org", "aussiedomain.id.au", "localhost"]


@pytest.fixture(scope="module")
def domain_keypair(configured):
    """A site registered (while serving) with the domains of the reference's origin-check table, and its key pair,
    once the running server accepts it."""
    op = configured
    site_id = max(r["id"] for r in db_rows(op.db_path, "SELECT id FROM sites")) + 1
    run_cli_json(op.binary, "site", "create", "--data-dir", str(op.data_dir), "--site-id", str(site_id), "--name",
                 "Origin table", "--domain-names", ",".join(REFERENCE_DOMAINS), "--json")
    kp = create_keypair(op, site_id)
    wait_for("the new key pair is accepted", lambda: generate(
        op, {"email_hash": b64(derive.sha256("a@example.com"))}, keypair=kp, origin="https://examplewebsite.com")[1]
        .status == 200, CONFIG_BOUND_S + 10)
    return kp


@pytest.mark.parametrize("origin", [
    "http://examplewebsite.com", "https://examplewebsite.com", "https://abc.examplewebsite.com:8080",
    "https://abc.examplewebsite.com:8080/", "https://abc.eXampleWebsIte.com:8080/",
    "https://abc.exAmplewEbsite.com:8080/blahh/a.html", "http://e-wb.org", "https://e-wb.org",
    "https://abc.e-wb.org:8080", "https://abc.e-wb.org:8080/", "https://abc.e-Wb.org:8080/",
    "https://abc.e-wb.org:8080/blahh/a.html", "http://aussiedomain.id.au", "https://aussiedomain.id.au/head.html",
    "http://localhost", "https://localhost:8080/", "https://abc.localhost:8080", "https://abc.localhost:8080/",
    "https://abc.locaLHost:8080/", "https://abc.localhost:8080/blahh/a.html",
])
def test_reference_origin_table_allowed(configured, domain_keypair, origin):
    """client-generate origin check: the reference's allowed origins (subdomains, ports, paths, letter case, a
    multi-label public suffix, localhost) pass."""
    _, r = generate(configured, {"email_hash": b64(derive.sha256("origin.table@example.com"))},
                    keypair=domain_keypair, origin=origin)
    assert r.status == 200, str(r)


@pytest.mark.parametrize("origin", [
    "examplewebsite.com", "examplewebsite.com:999999", "abc:examplewebsite.com", "/:$2231examplewebsite.com",
    "/:$2231examplewebsite.com/23423/sfs.html", "http://boohoo.id.au", "https://blah12.com",
    "http://123.boohoo.id.au", "https://456.blah12.com",
])
def test_reference_origin_table_refused(configured, domain_keypair, origin):
    """client-generate origin check: the reference's refused origins (malformed, other domains, another name under
    the same public suffix) answer 403 invalid_http_origin."""
    _, r = generate(configured, {"email_hash": b64(derive.sha256("origin.table@example.com"))},
                    keypair=domain_keypair, origin=origin)
    assert_json_error(r, 403, {"status": "invalid_http_origin", "message": "unexpected http origin"})
