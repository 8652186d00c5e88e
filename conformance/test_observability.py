"""GET /metrics (docs/METRICS.md), request ids, and `token inspect` / `envelope` against a running operator.

/metrics is parsed with prometheus-client's own text parser; every check compares values before and after
requests the test makes (the suite runs its tests one at a time, so nothing else moves these series meanwhile).
"""

import base64
import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from uid2_client import IdentityMapV3Client, IdentityMapV3Input, SharingClient, TokenGenerateInput

from checks import v2_call
from operator_proc import run_cli
from test_zz_logs_hold_no_secrets import SECRET_SHAPES
from wire import bearer, http

GENERATE = "/v2/token/generate"


def scrape(op) -> dict:
    """{(sample name, frozenset(labels)): value} for every sample of /metrics."""
    with urllib.request.urlopen(op.url("/metrics"), timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def metrics_text(op) -> str:
    with urllib.request.urlopen(op.url("/metrics"), timeout=30) as r:
        return r.read().decode()


def value(samples: dict, name: str, **labels) -> float:
    """The sample with exactly these labels (0 when the series does not exist yet)."""
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())), 0.0)


def series(samples: dict, name: str, **labels) -> list:
    """Values of every series of `name` whose labels include `labels`."""
    wanted = {(k, str(v)) for k, v in labels.items()}
    return [v for (n, ls), v in samples.items() if n == name and wanted <= ls]


def moved(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def generate(publisher, email: str):
    response = publisher.generate_token(TokenGenerateInput.from_email(email))
    assert response.is_success(), response.status
    return response


# ------------------------------------------------------------------ per-endpoint request metrics

def test_generate_moves_request_counter_histogram_and_site_counter(operator, publisher):
    before = scrape(operator)
    for i in range(3):
        generate(publisher, f"metrics.generate.{i}@example.com")
    after = scrape(operator)
    assert moved(before, after, "uid_http_requests_total", path=GENERATE, code=200, status="success") == 3
    assert moved(before, after, "uid_http_request_duration_seconds_count", path=GENERATE) == 3
    assert moved(before, after, "uid_http_request_duration_seconds_bucket", path=GENERATE, le="+Inf") == 3
    assert value(after, "uid_http_request_duration_seconds_sum", path=GENERATE) > \
        value(before, "uid_http_request_duration_seconds_sum", path=GENERATE)
    assert moved(before, after, "uid2_token_response_status_count_total", site_id=operator.dev.site_id,
                 token_endpoint="GenerateV2", token_response_status="Success", advertising_token_version="V4",
                 cstg="false", platform_type="Other") == 3
    # The SDK names itself in X-UID2-Client-Version.
    sdk = [dict(ls) for (n, ls), v in after.items() if n == "uid2_client_sdk_versions_total"
           and ("path", GENERATE) in ls and v > value(before, n, **dict(ls))]
    assert len(sdk) == 1 and sdk[0]["client_version"].startswith("uid2-client-python-"), sdk
    assert sdk[0]["site_id"] == str(operator.dev.site_id)


def test_optout_answer_is_counted_by_its_status(operator, publisher):
    before = scrape(operator)
    response = publisher.generate_token(TokenGenerateInput.from_email("optout@example.com"))
    assert response.is_optout()
    after = scrape(operator)
    assert moved(before, after, "uid_http_requests_total", path=GENERATE, code=200, status="optout") == 1
    assert moved(before, after, "uid_http_requests_total", path=GENERATE, code=200, status="success") == 0
    assert moved(before, after, "uid2_token_response_status_count_total", site_id=operator.dev.site_id,
                 token_endpoint="GenerateV2", token_response_status="OptOut", advertising_token_version="null",
                 cstg="false", platform_type="Other") == 1


def test_errors_are_counted_by_code_and_status(operator):
    before = scrape(operator)
    r = http("POST", operator.url(GENERATE), b"AAAA", bearer("not-a-key"))
    assert r.status == 401
    r, _ = v2_call(operator, GENERATE, {"email": "not an email"})
    assert r.status == 400
    r = http("GET", operator.url("/no/such/path?email=someone@example.com"))
    assert r.status == 404
    after = scrape(operator)
    assert moved(before, after, "uid_http_requests_total", path=GENERATE, code=401, status="unauthorized") == 1
    assert moved(before, after, "uid_http_requests_total", path=GENERATE, code=400, status="client_error") == 1
    assert moved(before, after, "uid_http_requests_total", path="other", code=404, status="not_found") == 1


def test_refresh_moves_refresh_metrics(operator, publisher):
    identity = generate(publisher, "metrics.refresh@example.com").get_identity()
    before = scrape(operator)
    refreshed = publisher.refresh_token(identity)
    assert refreshed.is_success(), refreshed.status
    after = scrape(operator)
    site = operator.dev.site_id
    assert moved(before, after, "uid_http_requests_total", path="/v2/token/refresh", code=200, status="success") == 1
    assert moved(before, after, "uid2_token_response_status_count_total", site_id=site, token_endpoint="RefreshV2",
                 token_response_status="Success", advertising_token_version="V4", cstg="false",
                 platform_type="Other") == 1
    assert moved(before, after, "uid2_token_refresh_duration_seconds_count", site_id=site,
                 has_origin_header="false") == 1
    assert moved(before, after, "uid2_advertising_token_expired_on_refresh_total", site_id=site,
                 has_origin_header="false", is_expired="false") == 1
    assert moved(before, after, "uid2_refresh_token_received_count_total", site_id=site,
                 refresh_token_version="v3") == 1


def test_validate_counts_match_and_mismatch(operator, publisher):
    token = generate(publisher, "validate@example.com").get_identity().get_advertising_token()
    before = scrape(operator)
    r, body = v2_call(operator, "/v2/token/validate", {"token": token, "email": "validate@example.com"})
    assert body == {"status": "success", "body": True}
    r, body = v2_call(operator, "/v2/token/validate", {"token": token, "email": "someone.else@example.com"})
    assert body == {"status": "success", "body": False}
    r, _ = v2_call(operator, "/v2/token/validate", {"token": "garbage", "email": "validate@example.com"})
    assert r.status == 400
    after = scrape(operator)
    site = operator.dev.site_id
    assert moved(before, after, "uid2_token_validate_total", site_id=site, result="match") == 1
    assert moved(before, after, "uid2_token_validate_total", site_id=site, result="mismatch") == 1
    assert moved(before, after, "uid2_token_validate_total", site_id=site, result="invalid_token") == 1


def test_identity_map_counts_inputs_and_unmapped(operator):
    client = operator.mapper or operator.dev
    mapper = IdentityMapV3Client(operator.base_url, client.api_key, client.secret_b64)
    before = scrape(operator)
    response = mapper.generate_identity_map(IdentityMapV3Input.from_emails(
        ["map.metrics.1@example.com", "map.metrics.2@example.com", "optout@example.com"]))
    assert len(response.mapped_identities) == 2
    after = scrape(operator)
    path = "/v3/identity/map"
    assert moved(before, after, "uid2_operator_identity_map_inputs_count", path=path, dii_type="email_hash") == 1
    assert moved(before, after, "uid2_operator_identity_map_inputs_sum", path=path, dii_type="email_hash") == 3
    assert moved(before, after, "uid2_operator_identity_map_unmapped_total", path=path, reason="optout") == 1
    assert moved(before, after, "uid2_operator_identity_map_unmapped_requests_total", path=path) == 1


# ------------------------------------------------------------------ state and process

def test_state_metrics_agree_with_the_status_page(operator):
    status = http("GET", operator.url("/ops/status"), headers=bearer(operator.dev.api_key)).json()
    samples = scrape(operator)
    assert value(samples, "uid_salt_buckets") == status["salt_buckets"]
    assert value(samples, "uid_optouts") == status["optouts"]
    assert value(samples, "uid_keys") == status["keys"]
    assert value(samples, "uid_clients") == status["clients"]
    configuration, salts = (int(part) for part in status["sync"]["store_version"].split("."))
    assert value(samples, "uid_snapshot_configuration_version") == configuration
    assert value(samples, "uid_snapshot_salts_version") == salts
    assert value(samples, "uid_healthy") == 1
    assert value(samples, "uid_store_unreachable") == 0
    assert 0 <= value(samples, "uid_snapshot_age_seconds") < 60
    # Every keyset has a newest key; the master keyset (-1) an active one.
    assert series(samples, "uid_key_newest_age_seconds")
    assert series(samples, "uid_key_active_age_seconds", keyset_id=-1)
    assert value(samples, "uid_salt_oldest_age_seconds") > 0
    assert value(samples, "process_resident_memory_bytes") > 10_000_000
    assert value(samples, "process_open_fds") > 3
    assert ("uid_event_loop_lag_seconds", frozenset()) in samples


def test_optout_moves_optout_count(operator):
    client = operator.optout_client or operator.dev
    before = scrape(operator)
    r, body = v2_call(operator, "/v2/token/logout", {"email": "metrics.logout@example.com"}, client=client)
    assert body == {"status": "success", "body": {"optout": "OK"}}, str(r)
    after = scrape(operator)
    assert moved(before, after, "uid_optouts") == 1


# ------------------------------------------------------------------ nothing secret

def test_metrics_hold_no_secret_or_identity(operator, publisher):
    identity = generate(publisher, "metrics.secret.check@example.com").get_identity()
    text = metrics_text(operator)
    known = [operator.dev.api_key, operator.dev.secret_b64, identity.get_advertising_token(),
             identity.get_refresh_token(), "metrics.secret.check@example.com"]
    for secret in known:
        assert secret not in text
    for what, shape in SECRET_SHAPES.items():
        match = shape.search(text)
        assert match is None, f"{what} in /metrics: {match.group(0)[:6]}…"


# ------------------------------------------------------------------ request ids

REQUEST_ID = "X-Request-Id"


def test_request_id_is_returned_as_sent(operator):
    r = http("GET", operator.url("/ops/healthcheck"), headers={REQUEST_ID: "trace-42.a:b_c"})
    assert r.headers.get(REQUEST_ID.lower()) == "trace-42.a:b_c"


@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 129, "new\\nline"], ids=["absent", "spaces", "long", "escape"])
def test_request_id_is_generated_when_absent_or_unsafe(operator, sent):
    headers = {REQUEST_ID: sent} if sent is not None else {}
    first = http("GET", operator.url("/ops/healthcheck"), headers=headers).headers.get(REQUEST_ID.lower())
    second = http("GET", operator.url("/ops/healthcheck"), headers=headers).headers.get(REQUEST_ID.lower())
    assert re.fullmatch(r"[0-9a-f]{16}", first or ""), first
    assert first != second


def test_request_id_is_on_the_access_log_line(operator):
    """The EUID operator of the suite logs JSON with the access log on (conftest.py)."""
    if "--access-log" not in operator.extra_serve_args:
        pytest.skip("this operator runs without the access log")
    request_id = "conformance-" + base64.b16encode(os.urandom(6)).decode().lower()
    r = http("POST", operator.url(GENERATE), b"AAAA", {**bearer("not-a-key"), REQUEST_ID: request_id})
    assert r.status == 401 and r.headers.get(REQUEST_ID.lower()) == request_id
    lines = [json.loads(line) for line in operator.log_path.read_text().splitlines() if request_id in line]
    access = [line for line in lines if line.get("message") == "request"]
    assert len(access) == 1, lines
    entry = access[0]
    assert entry["request_id"] == request_id
    assert entry["method"] == "POST" and entry["path"] == GENERATE
    assert entry["code"] == "401" and entry["status"] == "unauthorized"
    assert float(entry["duration_ms"]) >= 0
    assert "not-a-key" not in json.dumps(entry)


def test_access_log_names_site_and_client_key_not_the_key(operator, publisher):
    if "--access-log" not in operator.extra_serve_args:
        pytest.skip("this operator runs without the access log")
    request_id = "conformance-site-" + base64.b16encode(os.urandom(6)).decode().lower()
    from wire import seal
    envelope, _ = seal(operator.dev.secret, {"email": "access.site@example.com"})
    r = http("POST", operator.url(GENERATE), base64.b64encode(envelope),
             {**bearer(operator.dev.api_key), REQUEST_ID: request_id})
    assert r.status == 200
    entries = [json.loads(line) for line in operator.log_path.read_text().splitlines() if request_id in line]
    entry = next(e for e in entries if e.get("message") == "request")
    assert entry["site_id"] == str(operator.dev.site_id)
    assert entry["client_key_id"] and entry["client_key_id"] != operator.dev.api_key
    text = json.dumps(entry)
    assert operator.dev.api_key not in text and operator.dev.secret_b64 not in text
    assert "access.site@example.com" not in text


# ------------------------------------------------------------------ token inspect, envelope

def inspect(op, token: str, expect_ok=True) -> dict:
    # serve's lifetime flags are not in the store: refresh_from needs the one this operator runs with.
    args = [op.binary, "token", "inspect", "--data-dir", str(op.data_dir), "--json",
            "--refresh-identity-token-after-seconds", str(op.lifetimes[2]), "-"]
    p = subprocess.run(args, input=token, capture_output=True, text=True, timeout=180)
    assert (p.returncode == 0) == expect_ok, p.stderr
    return json.loads(p.stdout)


def test_inspect_explains_tokens_the_operator_issued(operator, publisher):
    if operator.store_url:
        pytest.skip("the CLI reads the PostgreSQL store through the wrapper; covered on SQLite")
    identity = generate(publisher, "inspect.me@example.com").get_identity()
    scope = operator.scope.upper()
    ad = inspect(operator, identity.get_advertising_token())
    assert ad["kind"] == "advertising_token" and ad["version"] == "v4"
    assert ad["scope"] == scope and ad["identity_type"] == "email"
    assert ad["site_id"] == operator.dev.site_id
    assert ad["opted_out"] is False and ad["expired"] is False
    roles = {k["role"]: k for k in ad["keys"]}
    assert set(roles) == {"master", "site"} and all(k["in_store"] for k in ad["keys"])
    assert roles["master"]["keyset_id"] == -1
    assert ad["expires"] - ad["created"] == operator.lifetimes[0] * 1000
    # The refresh token the SDK holds is the 388-character sealed refresh token.
    envelope = identity.get_refresh_token()
    assert len(envelope) == 388
    rt = inspect(operator, envelope)
    assert rt["kind"] == "sealed_refresh_token" and rt["version"] == "v3"
    assert rt["site_id"] == operator.dev.site_id and rt["opted_out"] is False
    assert {k["role"] for k in rt["keys"]} == {"seal", "refresh"}
    assert all(k["in_store"] and k["keyset_id"] == -2 for k in rt["keys"])
    assert rt["refresh_from"] - rt["created"] == operator.lifetimes[2] * 1000
    # Nothing that identifies the person.
    text = json.dumps([ad, rt])
    assert "inspect.me" not in text and "first_level" not in text and "raw_uid" not in text


def test_inspect_says_when_the_identity_opted_out(operator, publisher):
    if operator.store_url:
        pytest.skip("the CLI reads the PostgreSQL store through the wrapper; covered on SQLite")
    identity = generate(publisher, "inspect.optout@example.com").get_identity()
    client = operator.optout_client or operator.dev
    r, body = v2_call(operator, "/v2/token/logout", {"email": "inspect.optout@example.com"}, client=client)
    assert body == {"status": "success", "body": {"optout": "OK"}}, str(r)
    rt = inspect(operator, identity.get_refresh_token())
    assert rt["opted_out"] is True and rt["opted_out_since"] > 0
    ad = inspect(operator, identity.get_advertising_token())
    assert ad["opted_out"] is True


def test_inspect_explains_a_token_the_sdk_made(operator):
    """SharingClient encrypts a raw UID into a token itself, with the keys it downloaded."""
    if operator.store_url:
        pytest.skip("the CLI reads the PostgreSQL store through the wrapper; covered on SQLite")
    sharer = operator.sharer or operator.dev
    sc = SharingClient(operator.base_url, sharer.api_key, sharer.secret_b64)
    assert sc.refresh().success
    raw_uid = base64.b64encode(bytes(range(32))).decode()
    encrypted = sc.encrypt_raw_uid_into_token(raw_uid)
    assert encrypted.success, encrypted.status
    ad = inspect(operator, encrypted.encrypted_data)
    assert ad["kind"] == "advertising_token"
    assert ad["site_id"] == sharer.site_id
    assert all(k["in_store"] for k in ad["keys"])
    site_key = next(k for k in ad["keys"] if k["role"] == "site")
    assert site_key["keyset_site_id"] == sharer.site_id


def test_inspect_refuses_garbage_clearly(operator):
    if operator.store_url:
        pytest.skip("the CLI reads the PostgreSQL store through the wrapper; covered on SQLite")
    out = inspect(operator, "not a token at all", expect_ok=False)
    assert out["problem"]


def test_envelope_encrypt_then_decrypt_the_answer(operator):
    secret = operator.dev.secret_b64
    sealed = json.loads(run_cli(operator.binary, "envelope", "encrypt", "--secret", secret, "--json",
                                json.dumps({"email": "envelope.cli@example.com", "optout_check": 1})))
    r = http("POST", operator.url(GENERATE), sealed["envelope"].encode(), bearer(operator.dev.api_key))
    assert r.status == 200, str(r)
    opened = json.loads(run_cli(operator.binary, "envelope", "decrypt", "--secret", secret, "--nonce", sealed["nonce"],
                                "--json", r.body.decode()))
    assert opened["nonce_matches"] is True and opened["kind"] == "answer"
    assert opened["payload"]["status"] == "success"
    assert opened["payload"]["body"]["advertising_token"]


# ------------------------------------------------------------------ the docs match what is served

REPO = Path(__file__).resolve().parents[1]


def family_names(op) -> set:
    return {family.name for family in text_string_to_metric_families(metrics_text(op))}


def test_every_served_metric_is_documented(operator):
    documented = (REPO / "docs" / "METRICS.md").read_text()
    served = family_names(operator)
    # prometheus-client names counters without their _total suffix.
    missing = sorted(name for name in served if name not in documented and name + "_total" not in documented)
    assert not missing, f"served but not in docs/METRICS.md: {missing}"


def test_dashboard_uses_only_served_metrics(operator, publisher):
    # Families with run-time labels exist once something was counted in them.
    identity = generate(publisher, "dashboard.check@example.com").get_identity()
    assert publisher.refresh_token(identity).is_success()
    v2_call(operator, "/v2/token/validate", {"token": identity.get_advertising_token(), "email": "dashboard.check@example.com"})
    mapper = operator.mapper or operator.dev
    IdentityMapV3Client(operator.base_url, mapper.api_key, mapper.secret_b64).generate_identity_map(
        IdentityMapV3Input.from_emails(["optout@example.com"]))
    r, _ = v2_call(operator, "/v2/optout/status", {"advertising_ids": ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]}, client=mapper)
    assert r.status == 200, str(r)
    dashboard = (REPO / "docs" / "grafana" / "uid-operator.json").read_text()
    exprs = [t["expr"] for p in json.loads(dashboard)["panels"] for t in p.get("targets", [])]
    used = {re.sub(r"_(bucket|sum|count|total)$", "", name)
            for expr in exprs for name in re.findall(r"\b((?:uid2?|process)_[a-z0-9_]+)", expr)}
    served = {re.sub(r"_total$", "", name) for name in family_names(operator)}
    assert used and not sorted(used - served), f"dashboard queries metrics /metrics does not serve: {sorted(used - served)}"


def test_metrics_on_a_port_of_their_own(tmp_path_factory):
    from operator_proc import free_port, launch
    metrics_port = free_port()
    op = launch(tmp_path_factory.mktemp("op-metrics-port"), "uid2", extra_clients=False,
                extra_serve_args=["--metrics-port", str(metrics_port)])
    try:
        assert http("GET", op.url("/metrics")).status == 404
        r = http("GET", f"http://{op.host}:{metrics_port}/metrics")
        assert r.status == 200
        families = {f.name for f in text_string_to_metric_families(r.body.decode())}
        assert {"uid_http_requests", "uid_salt_buckets", "process_resident_memory_bytes"} <= families
    finally:
        op.stop()
