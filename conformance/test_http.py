"""HTTP-level behaviour shared by all routes (docs/PROTOCOL.md#http-behaviour):
CORS preflight and headers, 404 / 405 as JSON."""

import pytest

from checks import assert_json_error
from wire import http

ORIGIN = "https://www.example.com"
ALLOWED_HEADERS = {"x-uid2-client-version", "access-control-request-method", "access-control-allow-credentials",
                   "access-control-allow-origin", "access-control-allow-headers", "content-type"}
ROUTES = ["/v2/token/generate", "/v2/token/refresh", "/v2/token/validate", "/v2/token/logout",
          "/v2/token/client-generate", "/v2/identity/map", "/v3/identity/map", "/v2/identity/buckets",
          "/v2/optout/status", "/v2/key/sharing", "/v2/key/bidstream", "/v2/key/latest", "/ops/healthcheck"]


def header_set(value: str) -> set:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


@pytest.mark.parametrize("path", ROUTES)
def test_preflight(operator, path):
    wanted = "content-type,x-uid2-client-version" + (",authorization" if path == "/v2/token/validate" else "")
    r = http("OPTIONS", operator.url(path), None, {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": wanted})
    assert r.status == 204, str(r)
    assert r.headers.get("access-control-allow-origin") in (ORIGIN, "*"), r.headers
    methods = header_set(r.headers.get("access-control-allow-methods"))
    assert {"get", "post", "options"} <= methods, f"allowed methods {methods}"
    allowed = header_set(r.headers.get("access-control-allow-headers"))
    assert ALLOWED_HEADERS <= allowed, f"allowed headers {sorted(allowed)} lack {sorted(ALLOWED_HEADERS - allowed)}"
    if path == "/v2/token/validate":
        assert "authorization" in allowed, "Authorization must be allowed on /v2/token/validate"
    else:
        assert "authorization" not in allowed, f"Authorization is allowed only on /v2/token/validate ({path})"


@pytest.mark.parametrize("method,path,body", [("GET", "/ops/healthcheck", None),
                                              ("POST", "/v2/token/refresh", b"garbage-refresh-token"),
                                              ("POST", "/v2/token/client-generate", b"not json"),
                                              ("POST", "/v2/token/generate", b"")],
                         ids=["healthcheck-200", "refresh-400", "cstg-400", "generate-401"])
def test_cors_headers_on_actual_responses(operator, method, path, body):
    r = http(method, operator.url(path), body, {"Origin": ORIGIN})
    assert r.headers.get("access-control-allow-origin") in (ORIGIN, "*"), \
        f"{method} {path} with Origin: no Access-Control-Allow-Origin ({r})"


@pytest.mark.parametrize("method,path", [("GET", "/"), ("GET", "/v2/nothing"), ("POST", "/v2/token/nothing"),
                                         ("POST", "/v4/identity/map"), ("GET", "/ops/healthcheck/extra")])
def test_unknown_route_is_404_json(operator, method, path):
    r = http(method, operator.url(path), b"" if method == "POST" else None)
    body = assert_json_error(r, 404, status_string="not_found")
    assert set(body) <= {"status", "message"}, body


@pytest.mark.parametrize("method,path", [("GET", "/v2/token/generate"), ("PUT", "/v3/identity/map"),
                                         ("DELETE", "/v2/token/refresh"), ("POST", "/ops/healthcheck"),
                                         ("GET", "/v2/token/client-generate"), ("PATCH", "/v2/key/sharing")])
def test_wrong_method_is_405_json(operator, method, path):
    r = http(method, operator.url(path), b"" if method in ("POST", "PUT", "PATCH") else None)
    assert r.status == 405, str(r)
    assert r.content_type.split(";")[0].strip().lower() == "application/json", r.content_type
    assert isinstance(r.json().get("status"), str), r.json()


@pytest.mark.parametrize("path", ["/v2/token/client-generate", "/v3/identity/map", "/v2/identity/map",
                                  "/v2/optout/status", "/v2/token/logout"])
def test_body_over_1mib_is_413_everywhere(operator, path):
    """docs/DECISIONS.md#limits-enforced: the 1 MiB body limit is enforced (413) on every route, before anything else."""
    from wire import bearer, post_large
    body = b"A" * (1024 * 1024 + 1)
    headers = {"Content-Type": "application/json"} if path.endswith("client-generate") else bearer(operator.dev.api_key)
    r = post_large(operator.host, operator.port, path, body, headers)
    assert r.status == 413, str(r)


@pytest.mark.parametrize("method,path,body,headers", [
    ("GET", "/v2/nothing", None, {}),                                                  # 404 not_found
    ("GET", "/v2/token/generate", None, {}),                                           # 405
    ("POST", "/v2/token/refresh", b"garbage-refresh-token", {}),                       # 400 from the refresh path
    ("POST", "/v2/token/client-generate", b"not json", {"Content-Type": "application/json"}),  # 400 client_error
    ("POST", "/v2/token/generate", b"AAAA", {"Authorization": "Bearer not-a-key"}),    # 401
], ids=["404", "405", "refresh-400", "cstg-400", "401"])
def test_error_bodies_put_status_before_message(operator, method, path, body, headers):
    """The reference always writes `status` first, then `message`; the order is fixed, not an encoder's choice."""
    for _ in range(3):  # the same error, the same bytes each time
        r = http(method, operator.url(path), body, headers)
        assert 400 <= r.status < 500, str(r)
        text = r.body.decode()
        assert text.startswith('{"status":"'), text
        keys = list(r.json())
        assert keys[0] == "status" and keys in (["status"], ["status", "message"]), text
