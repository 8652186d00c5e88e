"""Secrets in logs: after the suite's other tests (this module's name sorts last), every operator log
that the run wrote, in every scope and store, must be free of API keys, client secrets, tokens, emails
and phone numbers. Patterns rather than a list of values: whatever secret or identity a test used,
its shape gives it away.
"""

import re
from pathlib import Path

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
            for what, shape in SECRET_SHAPES.items():
                match = shape.search(line)
                if match:
                    shown = match.group(0)[:6] + "…"  # never repeat the secret itself
                    leaks.append(f"{log.relative_to(base)}:{number}: {what} ({shown})")
    print(f"checked {len(logs)} operator logs, {lines} lines")
    assert not leaks, "secrets or identities in operator logs:\n" + "\n".join(leaks[:40])
