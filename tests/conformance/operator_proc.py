"""Start/stop the operator binary under test and run its CLI commands."""

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from derive import StoreSalts

STARTUP_TIMEOUT_S = 90
CLI_TIMEOUT_S = 180


def operator_binary() -> str:
    path = os.environ.get("UID_OPERATOR_BIN")
    if not path:
        pytest.fail("UID_OPERATOR_BIN is not set: point it at the built uid-operator binary "
                    "(e.g. /work/main/.build/debug/uid-operator)", pytrace=False)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"UID_OPERATOR_BIN={path!r} is not an executable file", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(binary: str, *args: str) -> str:
    cmd = [binary, *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(cmd)}` did not finish in {CLI_TIMEOUT_S}s", pytrace=False)
    if p.returncode != 0:
        raise CliError(f"`{' '.join(cmd)}` exited {p.returncode}\nstdout: {p.stdout[-2000:]}\n"
                       f"stderr: {p.stderr[-2000:]}")
    return p.stdout


class CliError(Exception):
    pass


def run_cli_json(binary: str, *args: str) -> dict:
    out = run_cli(binary, *args)
    try:
        return json.loads(out.strip())
    except json.JSONDecodeError:
        raise CliError(f"`{' '.join(args)}` did not print one JSON object: {out[-2000:]!r}")


@dataclass
class Client:
    api_key: str
    secret_b64: str
    site_id: int
    roles: list

    @property
    def secret(self) -> bytes:
        return base64.b64decode(self.secret_b64)

    @classmethod
    def from_json(cls, d: dict) -> "Client":
        return cls(d["api_key"], d["secret"], d["site_id"], d.get("roles", []))


@dataclass
class Operator:
    binary: str
    scope: str
    identity_v3: bool
    data_dir: Path
    port: int
    lifetimes: tuple  # (identity_expires, refresh_expires, refresh_from) in seconds
    log_path: Path
    dev: Client = None
    mapper: Client = None
    other_site: Client = None
    other_site_error: str = None
    proc: subprocess.Popen = None
    salts: StoreSalts = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "operator.sqlite"

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-n:])

    def derive_cli(self, kind: str, value: str) -> dict:
        args = ["identity", "derive", "--data-dir", str(self.data_dir), f"--{kind.replace('_', '-')}", value,
                "--scope", self.scope]
        if self.identity_v3:
            args.append("--identity-v3")
        return run_cli_json(self.binary, *args)

    # -------------------------------------------------------------- lifecycle

    def _serve_args(self) -> list:
        args = [self.binary, "serve", "--data-dir", str(self.data_dir), "--port", str(self.port),
                "--scope", self.scope, "--host", self.host]
        if self.lifetimes != DEFAULT_LIFETIMES:
            i, r, f = self.lifetimes
            args += ["--identity-token-expires-after-seconds", str(i),
                     "--refresh-token-expires-after-seconds", str(r),
                     "--refresh-identity-token-after-seconds", str(f)]
        if self.identity_v3:
            args.append("--identity-v3")
        return args

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._serve_args(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.time() + STARTUP_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"operator exited with {self.proc.returncode} during startup")
            try:
                with urllib.request.urlopen(self.url("/ops/healthcheck"), timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.25)
        self.fail(f"operator not healthy after {STARTUP_TIMEOUT_S}s")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def fail(self, message: str):
        self.stop()
        pytest.fail(f"{message}\ncommand: {' '.join(self._serve_args())}\n--- server log tail ---\n"
                    f"{self.log_tail()}", pytrace=False)


DEFAULT_LIFETIMES = (86400, 2592000, 3600)


def launch(tmp: Path, scope: str, identity_v3: bool = False, lifetimes=DEFAULT_LIFETIMES,
           extra_clients: bool = True) -> Operator:
    """Initialise an empty data dir, create extra clients (before serve), start serve and wait for health."""
    binary = operator_binary()
    op = Operator(binary, scope, identity_v3, tmp / "data", free_port(), lifetimes, tmp / "operator.log")
    op.data_dir.mkdir(parents=True, exist_ok=False)
    creds_path = op.data_dir / "dev-credentials.json"
    try:
        op.derive_cli("email", "init@example.com")  # any command initialises an empty data dir
    except CliError as e:
        pytest.fail(f"initialising the data dir failed: {e}", pytrace=False)
    if not creds_path.exists():
        # Fall back: the first `serve` is documented to write the credentials.
        op.start()
        op.stop()
    if not creds_path.exists():
        pytest.fail(f"{creds_path} was not written by init or serve", pytrace=False)
    op.dev = Client.from_json(json.loads(creds_path.read_text()))
    if extra_clients:
        base = ["client", "create", "--data-dir", str(op.data_dir), "--scope", scope, "--json"]
        try:
            op.mapper = Client.from_json(run_cli_json(binary, *base, "--site-id", str(op.dev.site_id),
                                                      "--roles", "MAPPER"))
        except CliError as e:
            pytest.fail(f"creating a MAPPER-only client failed: {e}", pytrace=False)
        from wire import db_rows
        other_site_id = max(r["id"] for r in db_rows(op.db_path, "SELECT id FROM sites")) + 1
        try:
            op.other_site = Client.from_json(run_cli_json(binary, *base, "--site-id", str(other_site_id),
                                                          "--roles", "GENERATOR"))
        except CliError as e:
            op.other_site_error = str(e)
    op.salts = StoreSalts(op.db_path)
    op.start()
    return op
