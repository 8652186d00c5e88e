"""A PostgreSQL store that goes away and comes back, with the operator serving throughout.

The operator reaches PostgreSQL through a TCP relay this test can cut: cutting closes the relay's
listening socket and every connection through it, as a server that died or a network that
partitioned would. While it is cut the operator must report the store in its health check within a
few seconds (connect and probe deadlines, not the pool's minute of retries), keep serving from its
snapshot, and answer logout with a retryable 503, never acknowledging an opt-out it did not write.
When the relay is back it recovers without a restart.
"""

import socket
import threading
import time
import urllib.parse

import pytest

from checks import v2_call
from conftest import POSTGRES_URL, fresh_postgres_database
from operator_proc import free_port, launch
from ops_support import healthcheck, wait_for
from pg_mirror import psql

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs UID_TEST_POSTGRES_URL (scripts/test sets it)")

GENERATE = "/v2/token/generate"
LOGOUT = "/v2/token/logout"
# The bound for noticing a lost store; the operator's own deadlines are 3 s.
REPORTED_WITHIN_S = 5


class Relay:
    """Forwards 127.0.0.1:port to the PostgreSQL server until cut."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener = None
        self.restore()

    def restore(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self):
        with self.lock:
            doomed, self.sockets = self.sockets + [self.listener], []
        for s in doomed:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, listener: socket.socket):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket):
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def through(relay: Relay, url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    credentials = parsed.netloc.rsplit("@", 1)[0]
    return urllib.parse.urlunsplit(parsed._replace(netloc=f"{credentials}@127.0.0.1:{relay.port}"))


def store_reported(op):
    h = healthcheck(op)
    return h if b"store" in h.body else None


def test_lost_postgres_is_reported_served_around_and_recovered(tmp_path):
    direct = fresh_postgres_database("outage")
    parsed = urllib.parse.urlsplit(direct)
    relay = Relay(parsed.hostname, parsed.port or 5432)
    op = launch(tmp_path, "uid2", store_url=through(relay, direct), extra_serve_args=["--sync-interval-ms", "200"])
    try:
        assert healthcheck(op).body == b"OK"
        r, _ = v2_call(op, GENERATE, {"email": "before@example.com", "optout_check": 1})
        assert r.status == 200, str(r)

        relay.cut()
        cut_at = time.monotonic()
        h, delay = wait_for("health reporting the lost store", lambda: store_reported(op), REPORTED_WITHIN_S, since=cut_at)
        print(f"[postgres lost] health reported it after {delay:.2f} s: {h.body!r}")
        assert h.status == 200 and h.body.startswith(b"OK"), f"health while serving from the snapshot: {h}"

        r, _ = v2_call(op, GENERATE, {"email": "during@example.com", "optout_check": 1})
        assert r.status == 200, f"not serving from the snapshot: {r}"

        started = time.monotonic()
        r, _ = v2_call(op, LOGOUT, {"email": "lost@example.com"}, timeout=60)
        print(f"[postgres lost] logout answered {r.status} after {time.monotonic() - started:.2f} s")
        assert r.status == 503, f"a logout the store could not take must be a retryable 503: {r}"
        assert r.headers.get("retry-after"), r.headers

        relay.restore()
        restored_at = time.monotonic()
        _, delay = wait_for("health back to OK", lambda: healthcheck(op).body == b"OK" or None, 60, interval_s=0.2,
                            since=restored_at)
        print(f"[postgres back] health OK after {delay:.2f} s")
        r, _ = v2_call(op, LOGOUT, {"email": "lost@example.com"}, timeout=60)
        assert r.status == 200, f"logout after recovery: {r}"
        assert int(psql(direct, "SELECT COUNT(*) FROM optouts").strip()) == 1, "the acknowledged opt-out is not stored"
    finally:
        op.stop()
        relay.cut()
