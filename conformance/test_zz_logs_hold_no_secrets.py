"""Secrets in logs: after the suite's other tests (this module's name sorts last), every operator log
that the run wrote, in every scope and store, must be free of API keys, client secrets, tokens, emails
and phone numbers. Patterns rather than a list of values: whatever secret or identity a test used,
its shape gives it away. JSON log lines are checked as written and with their strings decoded (an
escape must not hide a secret), and access-log lines like every other line.
"""

import json
import re
from pathlib import Path

import pytest

SECRET_SHAPES = {
    "API key": re.compile(r"\b(?:UID2|EUID)-[CO]-[LTIP]-\d+-[A-Za-z0-9]{6}\.[A-Za-z0-9+/=]{8,}"),
    "legacy API key": re.compile(r"\bLOCAL[A-Za-z0-9+/=]{16,}"),
    "32-byte base64 secret, key or hash": re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}="),
    "token or envelope (long base64 run)": re.compile(r"[A-Za-z0-9+/_-]{100,}={0,2}"),
    "email address": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "phone number": re.compile(r"\+\d{10,15}\b"),
}


def operator_logs(base: Path):
    return sorted(p for p in base.rglob("*.log") if p.is_file())


def test_operator_logs_hold_no_secrets_or_identities(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    logs = operator_logs(base)
    assert logs, f"no operator logs under {base}: run this module with the rest of the suite"
    leaks = []
    lines = 0
    for log in logs:
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            lines += 1
            for text in [line, *json_strings(line)]:
                for what, shape in SECRET_SHAPES.items():
                    match = shape.search(text)
                    if match:
                        shown = match.group(0)[:6] + "…"  # never repeat the secret itself
                        leaks.append(f"{log.relative_to(base)}:{number}: {what} ({shown})")
    print(f"checked {len(logs)} operator logs, {lines} lines")
    assert not leaks, "secrets or identities in operator logs:\n" + "\n".join(leaks[:40])


def json_strings(line: str) -> list:
    """The decoded keys and string values of a JSON log line (none for a text line)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return []
    if not isinstance(entry, dict):
        return []
    return [str(part) for key, value in entry.items() for part in (key, value)]


def test_json_and_access_logs_were_among_those_checked(tmp_path_factory):
    """The suite's EUID operator logs JSON with the access log on (conftest.py): its log must hold JSON lines,
    one access-log line per request among them, or the check above proved nothing about those formats."""
    base = tmp_path_factory.getbasetemp()
    euid_logs = sorted(base.glob("op-euid-v3*/operator.log"))
    if not euid_logs:
        pytest.skip("the EUID operator did not run in this session")
    entries = []
    for line in euid_logs[0].read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            pass
    access = [e for e in entries if isinstance(e, dict) and e.get("message") == "request"]
    assert entries and access, f"no JSON or access-log lines in {euid_logs[0]}"
    assert all(e.get("request_id") and e.get("path") and e.get("code") for e in access)
    assert any(e.get("site_id") for e in access), "no access-log line named a site"
