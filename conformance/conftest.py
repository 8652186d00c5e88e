"""Fixtures: one operator per scope (session-scoped), plus a short-lived-token operator for expiry tests.

Run (from the repository root, after `swift build`):  UID_OPERATOR_BIN=$PWD/.build/debug/uid-operator pytest conformance
"""

import os
import secrets
import socket

import pytest
from uid2_client import Uid2PublisherClient

from operator_proc import Operator, launch
from wire import sdk_key_collection

socket.setdefaulttimeout(60)  # the SDK's urlopen calls have no timeout of their own

# (scope, identity_v3, lifetimes): UID2 runs with the default lifetimes and raw UID v2; EUID runs like EUID
# production (raw UID v3) with explicit, distinct lifetimes so swapped or ignored flags show up.
SERVER_CONFIGS = {
    "uid2": ("uid2", False, (86400, 2592000, 3600)),
    "euid-v3": ("euid", True, (7200, 172800, 1800)),
}
SHORT_LIFETIMES = (2, 3, 1)  # identity, refresh, refresh_from (seconds)
# A UID2 server with tiny batch limits (serve flags), to check that the limits are configurable and counted
# across identifier types.
LIMITS = {"identity_map": 3, "optout_status": 2}


# The whole suite also runs against a UID2 operator on PostgreSQL when a server is available
# (scripts/postgres-for-tests; the test command sets UID_TEST_POSTGRES_URL).
POSTGRES_URL = os.environ.get("UID_TEST_POSTGRES_URL")
if POSTGRES_URL:
    SERVER_CONFIGS["uid2-postgres"] = ("uid2", False, (86400, 2592000, 3600))


def fresh_postgres_database(name: str) -> str:
    """A new, empty database on the test server; returns its URL."""
    from pg_mirror import database_url, psql
    database = f"uid_conformance_{name}_{secrets.token_hex(4)}"
    psql(POSTGRES_URL, f"CREATE DATABASE {database}")
    return database_url(POSTGRES_URL, database)


# The EUID operator logs JSON lines with the access log on, so that every request the suite makes to it is
# in an access log, which test_zz_logs_hold_no_secrets.py then checks (the others log text, access log off).
SERVE_ARGS = {"euid-v3": ["--log-format", "json", "--access-log"]}


@pytest.fixture(scope="session", params=list(SERVER_CONFIGS), ids=list(SERVER_CONFIGS))
def operator(request, tmp_path_factory) -> Operator:
    scope, v3, lifetimes = SERVER_CONFIGS[request.param]
    store_url = fresh_postgres_database("op") if request.param.endswith("-postgres") else None
    op = launch(tmp_path_factory.mktemp(f"op-{request.param}"), scope, v3, lifetimes, store_url=store_url,
                extra_serve_args=SERVE_ARGS.get(request.param, ()))
    yield op
    op.stop()


@pytest.fixture(scope="session")
def short_operator(tmp_path_factory) -> Operator:
    op = launch(tmp_path_factory.mktemp("op-short"), "uid2", False, SHORT_LIFETIMES, extra_clients=False)
    yield op
    op.stop()


@pytest.fixture(scope="session")
def limits_operator(tmp_path_factory) -> Operator:
    op = launch(tmp_path_factory.mktemp("op-limits"), "uid2", False, extra_clients=False,
                extra_serve_args=["--access-log",  # text access log lines, for the log checks
                                  "--identity-map-max-batch-size", str(LIMITS["identity_map"]),
                                  "--optout-status-max-request-size", str(LIMITS["optout_status"])])
    yield op
    op.stop()


@pytest.fixture
def publisher(operator) -> Uid2PublisherClient:
    """The SDK's publisher client (the SDK has one class for UID2 and EUID; the base URL decides)."""
    return Uid2PublisherClient(operator.base_url, operator.dev.api_key, operator.dev.secret_b64)


@pytest.fixture
def keys(operator):
    return sdk_key_collection(operator.db_path, operator.scope, operator.dev.site_id)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Operator):
                report.sections.append((f"server log tail ({value.scope}, port {value.port})", value.log_tail()))
