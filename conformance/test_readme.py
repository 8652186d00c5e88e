"""The README's examples, run in the order written in an empty directory with `uid-operator` on the PATH.

Every ```sh and ```python block runs, except one preceded by a `<!-- not run: reason -->` line. `uid-operator serve`
lines start a server in the background (stopped at the end) and wait for its health check; every other line of a shell
block runs in one `bash -e` script, so variables set on one line reach the next. The README's port 8080 is replaced by a
free port throughout, so the test does not depend on 8080 being free. Nothing else is changed."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from operator_proc import free_port, operator_binary

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!--\s*not run:(.*)-->\s*$")


def blocks(text: str):
    """(language, code, skipped reason or None, line number) for every fenced block, in order."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            start = i
            skip = SKIP.match(lines[i - 1]) if i > 0 else None
            i += 1
            body = []
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            found.append((m.group(1), "\n".join(body), skip.group(1).strip() if skip else None, start + 1))
        i += 1
    return found


def test_readme_blocks_are_found():
    found = blocks(README.read_text())
    runnable = [b for b in found if b[0] in ("sh", "python") and b[2] is None]
    assert len(runnable) >= 8, "the README's examples were not found"
    assert all(b[0] in ("sh", "python", "text", "json") for b in found), [b[0] for b in found]


def test_readme_examples_run_in_order(tmp_path):
    port = str(free_port())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uid-operator").symlink_to(os.path.abspath(operator_binary()))
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    env.pop("UID_OPERATOR_STORE", None)
    servers = []
    log = tmp_path / "serve.log"

    def run_shell(script: str, where: str):
        p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=work, env=env, capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0, f"README {where} failed ({p.returncode}):\n{script}\nstdout: {p.stdout[-3000:]}\n" \
                                  f"stderr: {p.stderr[-3000:]}"

    def start_server(line: str, where: str):
        args = shlex.split(line.split(" #")[0])
        with open(log, "ab") as out:
            servers.append(subprocess.Popen(args, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.time() + 180
        while time.time() < deadline:
            assert servers[-1].poll() is None, f"README {where}: `{line}` exited:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ops/healthcheck", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"README {where}: the server did not become healthy:\n{log.read_text()[-3000:]}")

    try:
        for language, code, skipped, line_number in blocks(README.read_text()):
            if skipped is not None or language not in ("sh", "python"):
                continue
            code = code.replace("8080", port)
            where = f"line {line_number}"
            if language == "python":
                p = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                                   timeout=120)
                assert p.returncode == 0, f"README {where} (python) failed:\n{p.stderr[-3000:]}"
                continue
            pending = []
            for line in code.splitlines():
                if line.startswith("uid-operator serve "):
                    if pending:
                        run_shell("\n".join(pending), where)
                        pending = []
                    start_server(line, where)
                else:
                    pending.append(line)
            if pending:
                run_shell("\n".join(pending), where)
        assert (work / "data" / "dev-credentials.json").stat().st_mode & 0o777 == 0o600
    finally:
        for server in servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
