"""The opt-out index image (docs/PERFORMANCE.md, "Starting from an image of the opt-out index"): a node on the
embedded store keeps an image of its opt-out index beside the database and, when restarted, starts from it plus the
opt-outs recorded after it. Checked through the SDK on a real server (images forced at any size with
`--optout-image-minimum 1`):

* the first start with opt-outs reads every row and then writes the image (owner-only file);
* the next start reads the image and only the rows after it, and every opt-out, older and newer than the image,
  still answers `optout` to generate and is listed by /v2/optout/status;
* an image with one byte changed is refused (the start reads every row, and says why), and nothing is lost;
* a node that keeps serving writes a new image once enough opt-outs came after the last one.
"""

import os
from pathlib import Path

import pytest
from uid2_client import TokenGenerateInput, Uid2PublisherClient

from checks import v2_call
from derive import b64
from operator_proc import run_cli
from ops_support import make_operator, optout_entry, wait_for
from wire import now_ms

LOGOUT = "/v2/token/logout"
STATUS = "/v2/optout/status"


@pytest.fixture(scope="module")
def op(tmp_path_factory):
    o = make_operator(tmp_path_factory.mktemp("optout-image"), extra_serve_args=["--optout-image-minimum", "1"])
    yield o
    o.stop()


def image_path(op) -> Path:
    return Path(str(op.db_path) + "-optout-index")


def log_text(op) -> str:
    return Path(op.log_path).read_text(errors="replace")


def restart(op) -> str:
    """Restart with SIGTERM; returns what the new process logged up to being healthy."""
    before = len(log_text(op))
    assert op.restart(), "the server did not stop on SIGTERM"
    return log_text(op)[before:]


def loaded_line(log: str) -> str:
    lines = [line for line in log.splitlines() if "Loaded store" in line]
    assert lines, log[-3000:]
    return lines[-1]


def opt_out(op, email):
    r, resp = v2_call(op, LOGOUT, {"email": email})
    assert r.status == 200 and resp == {"status": "success", "body": {"optout": "OK"}}, (str(r), resp)


def opt_out_new(op, kind: str, count: int) -> list:
    """Opts out `count` new emails; returns them."""
    stamp = now_ms()
    emails = [f"image.{kind}.{i}.{stamp}@example.com" for i in range(count)]
    for email in emails:
        opt_out(op, email)
    return emails


def wait_for_image(op):
    wait_for("the image to be written", lambda: "Wrote the opt-out index image" in log_text(op), timeout_s=30)


def check_opted_out(op, emails):
    publisher = Uid2PublisherClient(op.base_url, op.dev.api_key, op.dev.secret_b64)
    for email in emails:
        assert publisher.generate_token(TokenGenerateInput.from_email(email)).is_optout(), email
    ids = [b64(op.salts.derive("email", e, op.scope).raw_uid) for e in emails]
    r, resp = v2_call(op, STATUS, {"advertising_ids": ids})
    assert r.status == 200, str(r)
    listed = {entry["advertising_id"] for entry in resp["body"]["opted_out"]}
    assert listed == set(ids), (listed, ids)
    fresh = f"image.fresh.{now_ms()}@example.com"
    assert publisher.generate_token(TokenGenerateInput.from_email(fresh)).is_success(), "a user never opted out"


def test_a_restart_starts_from_the_image_and_keeps_every_optout(op):
    older = opt_out_new(op, "older", 3)
    log = restart(op)
    assert "optouts_from=rows" in loaded_line(log)
    wait_for_image(op)
    assert image_path(op).exists()
    assert image_path(op).stat().st_mode & 0o777 == 0o600

    newer = opt_out_new(op, "newer", 2)
    log = restart(op)
    line = loaded_line(log)
    assert "optouts_from=image" in line and "optout_rows_after_image=2" in line, line
    check_opted_out(op, older + newer)


def test_a_damaged_image_is_refused_and_nothing_is_lost(op):
    emails = opt_out_new(op, "damaged", 2)
    log = restart(op)
    if "optouts_from=rows" in loaded_line(log):  # no image yet when this test runs alone
        wait_for_image(op)
        log = restart(op)
    assert "optouts_from=image" in loaded_line(log)
    image = bytearray(image_path(op).read_bytes())
    image[len(image) // 2] ^= 0x01
    image_path(op).write_bytes(bytes(image))
    line = loaded_line(restart(op))
    assert "optouts_from=rows" in line and "checksum" in line, line
    check_opted_out(op, emails)


def test_a_serving_node_refreshes_its_image(op, tmp_path):
    """A node that keeps serving writes a new image once enough opt-outs came after the last (here 20,000 imported
    while it runs, past the 16,384 due for a small index), so a restart reads only the rows after the new one."""
    before = len(log_text(op))
    since = now_ms() // 1000 - 10
    imported = [(os.urandom(32), os.urandom(32)) for _ in range(20_000)]
    delta = tmp_path / "optout-delta-999_2026-01-01T00.00.00Z_0badc0de.dat"
    delta.write_bytes(b"".join(optout_entry(flh, ad, since) for flh, ad in imported))
    run_cli(op.binary, "import", "optout", "--data-dir", str(op.data_dir), str(delta))
    wait_for("the serving node to refresh its image", lambda: "Refreshed the opt-out index image" in log_text(op)[before:],
             timeout_s=30)
    refreshed = [line for line in log_text(op)[before:].splitlines() if "Refreshed the opt-out index image" in line][-1]
    assert image_path(op).stat().st_mode & 0o777 == 0o600

    newer = opt_out_new(op, "after-refresh", 2)
    line = loaded_line(restart(op))
    assert "optouts_from=image" in line and "optout_rows_after_image=2" in line, (refreshed, line)
    check_opted_out(op, newer)
    sample = [b64(ad) for _, ad in imported[::1000]]
    r, resp = v2_call(op, STATUS, {"advertising_ids": sample})
    assert r.status == 200, str(r)
    assert {entry["advertising_id"] for entry in resp["body"]["opted_out"]} == set(sample)
    assert {entry["opted_out_since"] for entry in resp["body"]["opted_out"]} == {since * 1000}
