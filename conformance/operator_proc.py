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
                    "(e.g. $PWD/.build/debug/uid-operator after `swift build`)", pytrace=False)
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


# What `launch` sets up before serve (site ids of the extra sites are chosen at launch: max existing id + 1...).
SITE_999_DOMAINS = ["example.org", "example.com", "localhost"]   # deliberately unsorted
SITE_999_APPS = ["com.example.app", "123456789"]
DSP_SITE_DOMAINS = ["dsp-site.net"]
MOBILE_SITE_APPS = ["com.three.App"]


@dataclass
class Keypair:
    subscription_id: str
    public_key: str
    site_id: int

    @classmethod
    def from_json(cls, d: dict) -> "Keypair":
        return cls(d["subscription_id"], d["public_key"], d["site_id"])


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
    extra_serve_args: list = field(default_factory=list)
    # set up by `launch` before serve (None + an entry in setup_errors when the CLI refused):
    id_reader: Client = None       # ID_READER only, site `sites["dsp"]` (domain names DSP_SITE_DOMAINS)
    sharer: Client = None          # SHARER only, site `sites["sharer"]` (no domain names)
    optout_client: Client = None   # OPTOUT only, site 999
    keypair: Keypair = None        # client-side keypair of the dev site 999 (domains SITE_999_DOMAINS, apps SITE_999_APPS)
    mobile_keypair: Keypair = None  # keypair of site `sites["mobile"]` (app names MOBILE_SITE_APPS, no domains)
    sites: dict = field(default_factory=dict)          # role name -> site JSON printed by `site create`
    setup_errors: dict = field(default_factory=dict)   # what -> CLI error text
    started_at_ms: int = None      # first successful start of serve
    store_url: str = None          # PostgreSQL store (the binary is then a wrapper that sets UID_OPERATOR_STORE)
    mirror: object = field(default=None, repr=False)
    preexec: object = field(default=None, repr=False)   # run in the serve process before exec (e.g. a lower ulimit)

    def need(self, attr: str):
        """The value of a launch-time setup item, or fail the test with the CLI error that prevented it."""
        value = getattr(self, attr)
        if value is None:
            why = self.setup_errors.get(attr) or getattr(self, attr + "_error", None) or "(not attempted)"
            pytest.fail(f"setup of {attr!r} before serve failed: {why}", pytrace=False)
        return value

    def need_site(self, name: str) -> dict:
        if name not in self.sites:
            pytest.fail(f"`site create` for the {name!r} site failed: {self.setup_errors.get('site:' + name)}",
                        pytrace=False)
        return self.sites[name]

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        """The SQLite store, or for a PostgreSQL store an up-to-date SQLite copy of it (pg_mirror.py)."""
        if self.mirror is not None:
            return self.mirror.sync()
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
        return args + list(self.extra_serve_args)

    def cli(self, *args: str) -> str:
        return run_cli(self.binary, *args)

    def cli_json(self, *args: str) -> dict:
        return run_cli_json(self.binary, *args)

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._serve_args(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=self.preexec)
        log.close()
        deadline = time.time() + STARTUP_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"operator exited with {self.proc.returncode} during startup")
            try:
                with urllib.request.urlopen(self.url("/ops/healthcheck"), timeout=2) as r:
                    if r.status == 200:
                        if self.started_at_ms is None:
                            self.started_at_ms = int(time.time() * 1000)
                        return
            except OSError:
                pass
            time.sleep(0.25)
        self.fail(f"operator not healthy after {STARTUP_TIMEOUT_S}s")

    def stop(self) -> bool:
        """SIGTERM, wait up to 15 s (then SIGKILL). True when the process ended on SIGTERM alone."""
        if self.proc is None or self.proc.poll() is not None:
            return True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
            return True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            return False

    def restart(self) -> bool:
        """Stop with SIGTERM and start `serve` again on the same data dir and port. Returns stop()'s result."""
        clean = self.stop()
        with open(self.log_path, "ab") as log:
            log.write(b"\n----- restart (conformance suite) -----\n")
        self.start()
        return clean

    def fail(self, message: str):
        self.stop()
        pytest.fail(f"{message}\ncommand: {' '.join(self._serve_args())}\n--- server log tail ---\n"
                    f"{self.log_tail()}", pytrace=False)


DEFAULT_LIFETIMES = (86400, 2592000, 3600)


def launch(tmp: Path, scope: str, identity_v3: bool = False, lifetimes=DEFAULT_LIFETIMES,
           extra_clients: bool = True, extra_serve_args=(), store_url: str = None) -> Operator:
    """Initialise an empty data dir (or, with `store_url`, an empty PostgreSQL database), create extra clients,
    sites and keypairs (before serve), start serve and wait for health."""
    binary = operator_binary()
    if store_url:
        # Every invocation of the binary, serve and CLI alike, then works on the PostgreSQL store.
        wrapper = tmp / "uid-operator-on-postgres"
        wrapper.write_text(f"#!/bin/sh\nUID_OPERATOR_STORE='{store_url}' exec '{binary}' \"$@\"\n")
        wrapper.chmod(0o755)
        binary = str(wrapper)
    op = Operator(binary, scope, identity_v3, tmp / "data", free_port(), lifetimes, tmp / "operator.log",
                  extra_serve_args=list(extra_serve_args))
    op.data_dir.mkdir(parents=True, exist_ok=False)
    if store_url:
        from pg_mirror import PostgresMirror
        op.store_url, op.mirror = store_url, PostgresMirror(store_url, tmp / "mirror.sqlite")
    creds_path = op.data_dir / "dev-credentials.json"
    try:
        run_cli(binary, "init", "--data-dir", str(op.data_dir), "--scope", scope)
    except CliError as e:
        pytest.fail(f"initialising the data dir failed: {e}", pytrace=False)
    if not creds_path.exists():
        pytest.fail(f"{creds_path} was not written by init", pytrace=False)
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
        _create_site(op, "other", other_site_id, "Other publisher")
        try:
            op.other_site = Client.from_json(run_cli_json(binary, *base, "--site-id", str(other_site_id),
                                                          "--roles", "GENERATOR"))
        except CliError as e:
            op.other_site_error = str(e)
        _setup_sites_and_keypairs(op, other_site_id + 1)
    op.salts = StoreSalts(op.db_path)
    op.start()
    return op


def _try(op: Operator, what: str, fn):
    try:
        return fn()
    except CliError as e:
        op.setup_errors[what] = str(e)
        return None


def _create_site(op: Operator, name: str, site_id: int, title: str, domains=(), apps=()):
    args = ["site", "create", "--data-dir", str(op.data_dir), "--site-id", str(site_id), "--name", title]
    if domains:
        args += ["--domain-names", ",".join(domains)]
    if apps:
        args += ["--app-names", ",".join(apps)]
    site = _try(op, "site:" + name, lambda: run_cli_json(op.binary, *args, "--json"))
    if site is not None:
        op.sites[name] = site
    return site


def _create_client(op: Operator, attr: str, site_id: int, roles: str):
    args = ["client", "create", "--data-dir", str(op.data_dir), "--scope", op.scope, "--json", "--site-id",
            str(site_id), "--roles", roles]
    setattr(op, attr, _try(op, attr, lambda: Client.from_json(run_cli_json(op.binary, *args))))


def create_keypair(op: Operator, site_id: int) -> Keypair:
    """`keypair create` (documented without --scope; --scope is passed when the command accepts it)."""
    base = ["keypair", "create", "--data-dir", str(op.data_dir), "--site-id", str(site_id), "--json"]
    try:
        return Keypair.from_json(run_cli_json(op.binary, *base, "--scope", op.scope))
    except CliError:
        return Keypair.from_json(run_cli_json(op.binary, *base))


def _setup_sites_and_keypairs(op: Operator, first_id: int):
    """Sites, clients and client-side keypairs the newer endpoint tests need. Failures are recorded, not fatal,
    so the older tests still run on a binary without these commands."""
    def update_999():
        run_cli(op.binary, "site", "update", "--data-dir", str(op.data_dir), "--site-id", "999",
                "--domain-names", ",".join(SITE_999_DOMAINS), "--app-names", ",".join(SITE_999_APPS))
        return True
    if _try(op, "site:999", update_999):
        op.sites["dev"] = {"id": 999, "domain_names": SITE_999_DOMAINS, "app_names": SITE_999_APPS}
        op.keypair = _try(op, "keypair", lambda: create_keypair(op, 999))
    else:
        op.setup_errors["keypair"] = "site update of 999 failed: " + op.setup_errors["site:999"]
    _create_client(op, "optout_client", 999, "OPTOUT")
    dsp, sharer, mobile = first_id, first_id + 1, first_id + 2
    if _create_site(op, "dsp", dsp, "DSP site", domains=DSP_SITE_DOMAINS):
        _create_client(op, "id_reader", dsp, "ID_READER")
    else:
        op.setup_errors["id_reader"] = op.setup_errors["site:dsp"]
    if _create_site(op, "sharer", sharer, "Sharer site"):
        _create_client(op, "sharer", sharer, "SHARER")
    else:
        op.setup_errors["sharer"] = op.setup_errors["site:sharer"]
    if _create_site(op, "mobile", mobile, "Mobile publisher", apps=MOBILE_SITE_APPS):
        op.mobile_keypair = _try(op, "mobile_keypair", lambda: create_keypair(op, mobile))
    else:
        op.setup_errors["mobile_keypair"] = op.setup_errors["site:mobile"]
