"""The CLI's contract with a newcomer: which commands create a store, file modes, exit codes, messages, listings,
`config show`, `export core`, a busy port. Drives the binary only; no server needed except the busy-port check."""

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from operator_proc import operator_binary
from ops_support import copy_data_dir, template_data_dir


def cli(*args, cwd=None, timeout=300):
    return subprocess.run([operator_binary(), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def data(tmp_path) -> Path:
    """A copy of an initialised UID2 data dir."""
    d = tmp_path / "data"
    copy_data_dir(template_data_dir("uid2"), d)
    return d


@pytest.mark.parametrize("args", [["site", "list"], ["client", "create", "--site-id", "1234", "--roles", "GENERATOR"],
                                  ["identity", "derive", "--email", "a@example.com"], ["keys", "list"],
                                  ["config", "show"], ["export", "core", "out"]])
def test_commands_other_than_init_and_serve_refuse_a_directory_without_a_store(tmp_path, args):
    missing = tmp_path / "typo-data"
    p = cli(*args[:2], "--data-dir", missing, *args[2:], cwd=tmp_path)
    assert p.returncode == 1, p
    assert str(missing) in p.stderr and "init" in p.stderr, p.stderr
    assert "USAGE" not in p.stderr and "Usage" not in p.stderr, p.stderr
    assert not missing.exists(), "the command created the directory"
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    p = cli(*args[:2], "--data-dir", empty, *args[2:], cwd=tmp_path)
    assert p.returncode == 1 and str(empty) in p.stderr, p
    assert list(empty.iterdir()) == [], "the command wrote into an empty directory"


def test_init_creates_owner_only_files_and_keeps_the_secret_off_a_non_terminal(tmp_path):
    d = tmp_path / "fresh" / "data"
    p = cli("init", "--data-dir", d)
    assert p.returncode == 0, p
    credentials = json.loads((d / "dev-credentials.json").read_text())
    assert credentials["secret"] not in p.stdout + p.stderr, "the secret was printed although stdout is not a terminal"
    assert credentials["api_key"] not in p.stdout + p.stderr
    assert str(d / "dev-credentials.json") in p.stderr
    assert mode(d) == 0o700
    for f in d.iterdir():
        assert mode(f) == 0o600, f"{f.name} has mode {oct(mode(f))}"
    again = cli("init", "--data-dir", d)
    assert again.returncode == 0 and json.loads((d / "dev-credentials.json").read_text()) == credentials, \
        "a second init must leave the store and its credentials alone"


def test_looser_modes_are_tightened_with_a_warning(data):
    os.chmod(data, 0o755)
    os.chmod(data / "operator.sqlite", 0o644)
    p = cli("site", "list", "--data-dir", data)
    assert p.returncode == 0, p
    assert "warning" in p.stderr and "operator.sqlite" in p.stderr and "755" in p.stderr, p.stderr
    assert mode(data) == 0o700 and mode(data / "operator.sqlite") == 0o600
    for suffix in ("-wal", "-shm"):
        f = data / f"operator.sqlite{suffix}"
        if f.exists():
            assert mode(f) == 0o600, f"{f.name}: {oct(mode(f))}"
    quiet = cli("site", "list", "--data-dir", data)
    assert "warning" not in quiet.stderr, quiet.stderr


def test_exit_codes_and_messages(data, tmp_path):
    usage = cli("client", "create", "--data-dir", data, "--site-id", "1234")   # --roles missing
    assert usage.returncode == 64, usage
    failure = cli("client", "disable", "--data-dir", data, "--key-id", "UID2-C-T-1-nope")
    assert failure.returncode == 1, failure
    assert failure.stderr.strip().startswith("Error:") and "UID2-C-T-1-nope" in failure.stderr, failure.stderr
    assert "USAGE" not in failure.stderr and "SUBCOMMANDS" not in failure.stderr, failure.stderr
    exists = cli("site", "create", "--data-dir", data, "--site-id", "999", "--name", "again")
    assert exists.returncode == 1 and "USAGE" not in exists.stderr, exists
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.strip()[:1].isdigit(), version


@pytest.mark.parametrize("args", [["--help"], ["keys", "--help"], ["optout", "add", "--help"], ["help", "salt"],
                                  ["optout"]], ids=" ".join)
def test_help_is_printed_with_exit_0(args):
    """`--help` at every level prints the command's usage on stdout (it once printed ArgumentParser's internal
    error instead), and a command group named alone shows its subcommands."""
    p = cli(*args)
    assert p.returncode == 0, p
    assert "USAGE: uid-operator" in p.stdout, p
    assert "Error" not in p.stdout + p.stderr, p
    if args[0] != "help" and args[-1] == "--help":
        assert f"USAGE: uid-operator {' '.join(args[:-1])}".rstrip() in p.stdout, p.stdout[:300]


def test_scope_mismatch_is_refused(data):
    p = cli("client", "create", "--data-dir", data, "--site-id", "1234", "--roles", "GENERATOR", "--scope", "euid")
    assert p.returncode == 1, p
    assert "euid" in p.stderr and "UID2" in p.stderr, p.stderr
    ok = cli("client", "create", "--data-dir", data, "--site-id", "1234", "--roles", "GENERATOR", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["api_key"].startswith("UID2-C-"), ok


def test_unknown_config_keys_are_refused_by_name(data, tmp_path):
    config = tmp_path / "operator.json"
    config.write_text(json.dumps({"identity_token_expires_after_seconds": 7200, "identiy_scope": "euid"}))
    p = cli("config", "show", "--data-dir", data, "--config", config)
    assert p.returncode == 1 and '"identiy_scope"' in p.stderr, p


def test_config_show_names_where_each_setting_comes_from(data, tmp_path):
    assert cli("config", "set", "--data-dir", data, "--refresh-token-expires-after-seconds", "172800").returncode == 0
    config = tmp_path / "operator.json"
    config.write_text(json.dumps({"identity_token_expires_after_seconds": 7200}))
    p = cli("config", "show", "--data-dir", data, "--config", config, "--json")
    assert p.returncode == 0, p
    shown = json.loads(p.stdout)
    assert shown["refresh_token_expires_after_seconds"] == {"value": 172800, "source": "store"}
    assert shown["identity_token_expires_after_seconds"] == {"value": 7200, "source": "file"}
    assert shown["refresh_identity_token_after_seconds"] == {"value": 3600, "source": "default"}
    assert shown["identity_scope"]["value"] == "uid2"
    human = cli("config", "show", "--data-dir", data, "--config", config)
    assert human.returncode == 0 and human.stdout.splitlines()[0].split() == ["SETTING", "VALUE", "FROM"], human.stdout


def test_lists_have_headers_and_iso_times(data):
    keys = cli("keys", "list", "--data-dir", data)
    assert keys.returncode == 0, keys
    lines = keys.stdout.splitlines()
    assert lines[0].split()[:2] == ["KEYSET", "/"], lines[0]
    year = time.gmtime().tm_year
    assert any(f"{year}-" in line and "Z" in line for line in lines[1:]), keys.stdout
    as_json = json.loads(cli("keys", "list", "--data-dir", data, "--json").stdout)
    assert isinstance(as_json[0]["keys"][0]["activates"], int), "--json keeps epoch seconds"
    for args, header in [(["client", "list"], "KEY ID"), (["site", "list"], "SITE"), (["optout", "list"], "OPTED OUT")]:
        p = cli(*args, "--data-dir", data)
        assert p.returncode == 0 and p.stdout.startswith(header), (args, p.stdout)


def test_export_core_round_trips_through_import(data, tmp_path):
    out = tmp_path / "core"
    p = cli("export", "core", "--data-dir", data, out)
    assert p.returncode == 0, p
    assert mode(out / "clients" / "clients.json") == 0o600
    copy = tmp_path / "copy"
    p = cli("import", "core", "--data-dir", copy, out)
    assert p.returncode == 0, p
    for args in (["client", "list", "--json"], ["site", "list", "--json"], ["keys", "list", "--json"]):
        a = json.loads(cli(*args[:2], "--data-dir", data, *args[2:]).stdout)
        b = json.loads(cli(*args[:2], "--data-dir", copy, *args[2:]).stdout)
        assert a == b, args
    derive = ["identity", "derive", "--email", "round.trip@example.com"]
    assert cli(*derive[:2], "--data-dir", data, *derive[2:]).stdout == cli(*derive[:2], "--data-dir", copy, *derive[2:]).stdout
    assert cli("export", "core", "--data-dir", data, out).returncode == 1, "exporting over an export is refused"


def test_a_busy_port_is_one_clear_line_before_loading(data):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = cli("serve", "--data-dir", data, "--port", port, "--no-rotation", timeout=120)
    assert p.returncode == 1, p
    errors = [line for line in p.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(port) in errors[0] and "in use" in errors[0], p.stderr
    assert "Loaded store" not in p.stdout + p.stderr, "the port must be checked before the store is loaded"


def test_start_up_and_shutdown_are_logged(data, tmp_path):
    from ops_support import make_operator
    op = make_operator(tmp_path / "op", data_dir=data, extra_serve_args=["--no-rotation"])
    assert op.stop(), "SIGTERM did not stop the server"
    log = op.log_path.read_text()
    assert "Starting uid-operator" in log and "uid-operator stopped" in log, log[-2000:]
    assert log.index("Starting uid-operator") < log.index("Loaded store") < log.index("uid-operator stopped")
