"""Two operator nodes sharing one PostgreSQL store: several machines serving one data set.

The store is a small core data set the suite writes itself (core_layout.py), imported into a fresh database, so a
cluster starts in seconds; its all-roles client (site 999) drives both nodes through the official SDK.
Needs UID_TEST_POSTGRES_URL (scripts/postgres-for-tests prints one; the test command sets it).
"""

import base64
import datetime as dt
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest
from uid2_client import BidstreamClient, DecryptionStatus, IdentityMapV3Client, IdentityMapV3Input, \
    TokenGenerateInput, Uid2PublisherClient

from core_layout import write_core
from operator_proc import free_port, operator_binary, run_cli, run_cli_json
from pg_mirror import database_url
from wire import bearer, http, seal

POSTGRES_URL = os.environ.get("UID_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="UID_TEST_POSTGRES_URL is not set (scripts/postgres-for-tests)")

# The all-roles client of the data set, set by the `cluster` fixture.
CLIENT = {}
SYNC_MS = 200
BOUND_S = 2.0  # opt-outs and configuration must reach the other node within this


def psql(url: str, sql: str):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True, capture_output=True, timeout=60)


class Node:
    def __init__(self, store_url: str, workdir: Path, name: str):
        self.store_url, self.port, self.name = store_url, free_port(), name
        self.log = workdir / f"{name}.log"
        self.proc = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.launch()
        self.wait_healthy(90)

    def launch(self):
        self.proc = subprocess.Popen(
            [operator_binary(), "serve", "--store", self.store_url, "--port", str(self.port),
             "--sync-interval-ms", str(SYNC_MS), "--no-rotation"],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT)

    def wait_healthy(self, seconds: float):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"node {self.name} exited: {self.log.read_text()[-2000:]}", pytrace=False)
            try:
                if http("GET", self.base_url + "/ops/healthcheck", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"node {self.name} did not become healthy: {self.log.read_text()[-2000:]}", pytrace=False)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def publisher(self) -> Uid2PublisherClient:
        return Uid2PublisherClient(self.base_url, CLIENT["key"], CLIENT["secret"])

    def post(self, path: str, payload, api_key=None, secret_b64=None):
        from wire import open_response
        api_key, secret_b64 = api_key or CLIENT["key"], secret_b64 or CLIENT["secret"]
        secret = base64.b64decode(secret_b64)
        envelope, nonce = seal(secret, payload)
        response = http("POST", self.base_url + path, base64.b64encode(envelope), bearer(api_key))
        if response.status != 200:
            return response.status, response.json()
        return 200, open_response(secret, base64.b64decode(response.body), nonce)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    database = "uid_cluster_" + secrets.token_hex(4)
    psql(POSTGRES_URL, f"CREATE DATABASE {database}")
    store_url = database_url(POSTGRES_URL, database)
    workdir = tmp_path_factory.mktemp("cluster")
    client = write_core(workdir / "core")
    CLIENT.update(key=client.api_key, secret=client.secret_b64)
    run_cli(operator_binary(), "import", "core", "--store", store_url, str(workdir / "core"))
    nodes = [Node(store_url, workdir, "a"), Node(store_url, workdir, "b")]
    for node in nodes:
        node.start()
    yield store_url, nodes
    for node in nodes:
        node.stop()
    try:
        psql(POSTGRES_URL, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    except subprocess.CalledProcessError:
        pass


def wait_until(predicate, bound_s: float, what: str) -> float:
    """Polls `predicate`; returns the seconds it took, fails past the bound (with some slack for polling)."""
    start = time.time()
    while True:
        if predicate():
            return time.time() - start
        if time.time() - start > bound_s:
            pytest.fail(f"{what}: not within {bound_s} s")
        time.sleep(0.05)


def test_token_generated_on_one_node_refreshes_on_the_other(cluster):
    _, (a, b) = cluster
    identity = a.publisher().generate_token(TokenGenerateInput.from_email("cluster.user@example.com")).get_identity()
    refreshed = b.publisher().refresh_token(identity)
    assert refreshed.get_identity() is not None, "node b could not refresh node a's token"
    again = a.publisher().refresh_token(refreshed.get_identity())
    assert again.get_identity() is not None, "node a could not refresh node b's token"


def test_opt_out_on_one_node_reaches_the_other_within_the_bound(cluster):
    _, (a, b) = cluster
    email = f"leaving.{secrets.token_hex(3)}@example.com"
    identity = b.publisher().generate_token(TokenGenerateInput.from_email(email)).get_identity()
    assert identity is not None
    status, body = a.post("/v2/token/logout", {"email": email})
    assert (status, body) == (200, {"status": "success", "body": {"optout": "OK"}})
    took = wait_until(lambda: b.publisher().generate_token(TokenGenerateInput.from_email(email)).is_optout(),
                      BOUND_S, "node b answering optout")
    print(f"opt-out propagation a→b: {took * 1000:.0f} ms")
    assert b.publisher().refresh_token(identity).is_optout()
    mapped = IdentityMapV3Client(b.base_url, CLIENT["key"], CLIENT["secret"]).generate_identity_map(
        IdentityMapV3Input.from_emails([email]))
    assert email in mapped.unmapped_identities
    store_url, _ = cluster
    maintainer = run_cli_json(operator_binary(), "client", "create", "--store", store_url, "--site-id", "999",
                              "--roles", "MAINTAINER", "--json")
    status = wait_until(lambda: http("GET", b.base_url + "/ops/status", headers=bearer(maintainer["api_key"])).status == 200,
                        BOUND_S, "node b knowing the new MAINTAINER client")
    assert status >= 0
    lag = http("GET", b.base_url + "/ops/status", headers=bearer(maintainer["api_key"])).json()["sync"]["last_optout_lag_ms"]
    assert 0 <= lag <= BOUND_S * 1000


def test_disabled_client_stops_on_both_nodes(cluster):
    store_url, nodes = cluster
    client = run_cli_json(operator_binary(), "client", "create", "--store", store_url, "--site-id", "999",
                          "--roles", "GENERATOR", "--json")
    for node in nodes:
        wait_until(lambda n=node: n.post("/v2/token/generate", {"email": "x@example.com"}, client["api_key"],
                                         client["secret"])[0] == 200, BOUND_S + 1, f"new client on node {node.name}")
    run_cli(operator_binary(), "client", "disable", "--store", store_url, "--key-id", client["key_id"])
    for node in nodes:
        took = wait_until(lambda n=node: n.post("/v2/token/generate", {"email": "x@example.com"}, client["api_key"],
                                                client["secret"]) == (401, {"status": "unauthorized"}),
                          BOUND_S + 1, f"disabled client refused by node {node.name}")
        print(f"client disable reached node {node.name} in {took * 1000:.0f} ms")


def test_key_rotation_is_seen_by_both_nodes(cluster):
    store_url, (a, b) = cluster
    rotated = run_cli_json(operator_binary(), "keys", "rotate", "--store", store_url, "--keyset-id", "-1",
                           "--activates-in-seconds", "0", "--json")
    new_key = rotated["key_id"]

    def publishes(node):
        status, body = node.post("/v2/key/bidstream", None)
        return status == 200 and new_key in [k["id"] for k in body["body"]["keys"]]

    for node in (a, b):
        wait_until(lambda n=node: publishes(n), BOUND_S + 1, f"node {node.name} publishing key {new_key}")
    # Tokens now carry the new master key (header bytes 2..6) and decrypt with keys downloaded from the other node.
    token = a.publisher().generate_token(TokenGenerateInput.from_email("rotation@example.com")).get_identity() \
        .get_advertising_token()
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert int.from_bytes(raw[2:6], "big", signed=True) == new_key
    dsp = run_cli_json(operator_binary(), "client", "create", "--store", store_url, "--site-id", "4000",
                       "--roles", "ID_READER", "--json")
    time.sleep(BOUND_S)
    bidstream = BidstreamClient(b.base_url, dsp["api_key"], dsp["secret"])
    assert bidstream.refresh().success
    decrypted = bidstream.decrypt_token_into_raw_uid(token, None)
    assert decrypted.status == DecryptionStatus.SUCCESS, decrypted.status


def test_changes_that_change_nothing_reload_no_node(cluster):
    store_url, nodes = cluster

    maintainer = run_cli_json(operator_binary(), "client", "create", "--store", store_url, "--site-id", "999",
                              "--roles", "MAINTAINER", "--json")
    for node in nodes:
        wait_until(lambda n=node: http("GET", n.base_url + "/ops/status", headers=bearer(maintainer["api_key"])).status == 200,
                   BOUND_S + 1, f"node {node.name} knowing the MAINTAINER client")

    def reloads():
        return [http("GET", node.base_url + "/ops/status", headers=bearer(maintainer["api_key"])).json()["sync"]["reloads"]
                for node in nodes]

    client = run_cli_json(operator_binary(), "client", "create", "--store", store_url, "--site-id", "999",
                          "--roles", "GENERATOR", "--json")
    run_cli(operator_binary(), "client", "disable", "--store", store_url, "--key-id", client["key_id"])
    for node in nodes:
        wait_until(lambda n=node: n.post("/v2/token/generate", {"email": "x@example.com"}, client["api_key"],
                                         client["secret"]) == (401, {"status": "unauthorized"}),
                   BOUND_S + 1, f"disabled client refused by node {node.name}")
    time.sleep(3 * SYNC_MS / 1000)
    before = reloads()
    # Disabling it again, and a salt run with nothing due (the fixture's buckets fall due in 2027).
    run_cli(operator_binary(), "client", "disable", "--store", store_url, "--key-id", client["key_id"])
    salts = run_cli_json(operator_binary(), "salt", "rotate", "--store", store_url, "--fraction", "0.01", "--json")
    assert (salts["rotated"], salts["rescheduled"]) == (0, 0), salts
    time.sleep(5 * SYNC_MS / 1000)
    assert reloads() == before, "a change that changed nothing made a node rebuild its snapshot"


def test_killing_a_node_loses_no_acknowledged_opt_out(cluster):
    _, (a, b) = cluster
    emails = [f"kill.{secrets.token_hex(3)}.{i}@example.com" for i in range(5)]
    for email in emails:
        assert a.post("/v2/token/logout", {"email": email})[0] == 200
    a.kill()
    for email in emails:
        wait_until(lambda e=email: b.publisher().generate_token(TokenGenerateInput.from_email(e)).is_optout(),
                   BOUND_S, f"node b seeing {email}")
    a.start()
    for email in emails:
        assert a.publisher().generate_token(TokenGenerateInput.from_email(email)).is_optout()


@pytest.mark.parametrize("trial", range(3))
def test_nodes_started_together_on_an_empty_store_all_come_up_with_the_same_data(tmp_path, trial):
    """A fleet's first deploy: every node starts at once on an empty database. Exactly one seeds (and prints
    the dev credentials); the others wait for it and serve the same keys and salts."""
    database = "uid_together_" + secrets.token_hex(4)
    psql(POSTGRES_URL, f"CREATE DATABASE {database}")
    store_url = database_url(POSTGRES_URL, database)
    nodes = [Node(store_url, tmp_path, f"together-{trial}-{i}") for i in range(4)]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_healthy(300)
        logs = [node.log.read_text() for node in nodes]
        seeders = [log for log in logs if "Created a new store" in log]
        assert len(seeders) == 1, f"{len(seeders)} nodes seeded"
        # Credentials reach a terminal only, never a log: the fleet's operator makes its client.
        client = run_cli_json(operator_binary(), "client", "create", "--store", store_url, "--site-id", "999",
                              "--roles", "MAPPER,SHARER", "--json")
        api_key, secret = client["api_key"], client["secret"]
        for node in nodes:
            wait_until(lambda n=node: n.post("/v2/key/sharing", None, api_key, secret)[0] == 200,
                       BOUND_S + 1, f"node {node.name} knowing the new client")
        emails = [f"together.{i}@example.com" for i in range(24)]
        answers = []
        for node in nodes:
            status, body = node.post("/v2/key/sharing", None, api_key, secret)
            assert status == 200, (node.name, body)
            keys = sorted((k["id"], k["secret"]) for k in body["body"]["keys"])
            now = dt.datetime.now(tz=dt.timezone.utc)
            mapped = IdentityMapV3Client(node.base_url, api_key, secret).generate_identity_map(
                IdentityMapV3Input.from_emails(emails)).mapped_identities
            refresh = [mapped[e].refresh_from for e in emails]
            assert all(r > now for r in refresh), f"node {node.name}: a refresh_from in the past"
            assert len({r.date() for r in refresh}) > 1, f"node {node.name}: every bucket falls due on one day"
            answers.append((keys, {e: mapped[e].current_raw_uid for e in emails}))
        assert all(answer == answers[0] for answer in answers), "nodes serve different keys or salts"
    finally:
        for node in nodes:
            node.stop()
        try:
            psql(POSTGRES_URL, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        except subprocess.CalledProcessError:
            pass
