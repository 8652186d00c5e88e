"""Client-side generation in a real browser: `examples/client-side/index.html` (WebCrypto ECDH P-256 + AES-GCM, no
SDK) generates a token with /v2/token/client-generate and refreshes it with /v2/token/refresh in headless Chromium.
The page is served from another port than the operator, so every request is cross-origin and the browser itself
enforces CORS; from an allowed origin (`localhost`, a domain name of the site) it gets and refreshes a token, from a
refused one (`127.0.0.1`) the operator answers 403 invalid_http_origin, which the page can read.

Needs Debian's `chromium` and `chromium-driver` (scripts/prerequisites test installs them) and `selenium`
(requirements.txt); without them the test is skipped and says why."""

import functools
import http.server
import shutil
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from operator_proc import Keypair, free_port
from ops_support import make_operator

PAGE_DIR = Path(__file__).resolve().parents[1] / "examples" / "client-side"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover - reported as a skip
    webdriver = None

pytestmark = pytest.mark.skipif(
    webdriver is None or not CHROMIUM or not CHROMEDRIVER,
    reason="needs selenium (pip) and Debian's chromium and chromium-driver: sudo apt-get install chromium chromium-driver")


@pytest.fixture(scope="module")
def browser_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    op = make_operator(tmp / "op", start=False)
    op.cli("site", "update", "--data-dir", str(op.data_dir), "--site-id", "999", "--domain-names", "localhost")
    keypair = Keypair.from_json(op.cli_json("keypair", "create", "--data-dir", str(op.data_dir), "--site-id", "999", "--json"))
    op.start()
    page_port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PAGE_DIR))
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield op, keypair, page_port, driver
    driver.quit()
    pages.shutdown()
    op.stop()


def run_page(driver, page_origin: str, op, keypair: Keypair, email: str) -> dict:
    query = urllib.parse.urlencode({"operator": op.base_url, "subscription_id": keypair.subscription_id,
                                    "public_key": keypair.public_key, "email": email})
    driver.get(f"{page_origin}/index.html?{query}")
    deadline = time.time() + 30
    while time.time() < deadline:
        result = driver.execute_script("return window.uidResult || null")
        if result is not None:
            return result
        time.sleep(0.2)
    pytest.fail(f"the page did not finish: {driver.find_element('id', 'result').text}")


def test_allowed_origin_generates_and_refreshes_in_the_browser(browser_setup):
    op, keypair, page_port, driver = browser_setup
    result = run_page(driver, f"http://localhost:{page_port}", op, keypair, "browser.user@example.com")
    assert "error" not in result, result
    generated = result["generate"]
    assert generated["httpStatus"] == 200 and generated["answer"]["status"] == "success", generated
    body = generated["answer"]["body"]
    assert body["advertising_token"] and len(body["refresh_token"]) > 100 and body["refresh_response_key"], body
    refreshed = result["refresh"]
    assert refreshed["httpStatus"] == 200 and refreshed["answer"]["status"] == "success", refreshed
    assert refreshed["answer"]["body"]["advertising_token"] != body["advertising_token"] or \
        refreshed["answer"]["body"]["refresh_token"] != body["refresh_token"]


def test_refused_origin_gets_a_readable_403(browser_setup):
    op, keypair, page_port, driver = browser_setup
    result = run_page(driver, f"http://127.0.0.1:{page_port}", op, keypair, "browser.user@example.com")
    assert "error" not in result, f"the browser could not read the answer (CORS?): {result}"
    generated = result["generate"]
    assert generated["httpStatus"] == 403 and generated["answer"]["status"] == "invalid_http_origin", generated
    assert "refresh" not in result
