"""What `make run` answers before any route runs: unknown routes, unknown methods and
malformed requests, sent as raw bytes to the real local server. Each answer is the JSON
error shape with x-request-id and the security headers every other response carries,
never an HTML page, and nothing of it leaves a traceback in the server's log."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.e2e.conftest import LocalServer, free_port
from tests.e2e.test_local_server import agent_token

WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
SECURITY = (
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        parsed = json.loads(self.body)
        assert isinstance(parsed, dict)
        return parsed


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The local server with unbuffered output, so its log is complete once it answered."""
    srv = LocalServer(free_port(), tmp_path_factory.mktemp("vaultguard-edge") / "state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONUNBUFFERED", "1")
        try:
            srv.start()
        except requests.Timeout:  # on a busy machine the first request can outlast start()'s 1 s
            assert requests.get(f"{srv.url}/health", timeout=30).status_code == 200, srv.log()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


def exchange(
    server: LocalServer, data: bytes, *, half_close: bool = False, heads: tuple[int, ...] = ()
) -> list[Answer]:
    """Send raw bytes and read every answer until the server closes the connection; `heads`
    are the positions of the answers to HEAD requests (which have no body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    answers: list[Answer] = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if len(answers) in heads else int(headers.get("content-length", "0"))
        answers.append(Answer(int(status_line.split()[1]), headers, raw[:length]))
        raw = raw[length:]
    return answers


def answer(server: LocalServer, data: bytes) -> Answer:
    answers = exchange(server, data)
    assert len(answers) == 1, answers
    return answers[0]


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_error_shape(server: LocalServer, reply: Answer, status: int, error: str) -> dict[str, object]:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers.get("content-type") == "application/json", reply.headers
    body = reply.json()
    assert set(body) == {"error", "error_description", "request_id"}, body
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    request_id = reply.headers.get("x-request-id", "")
    assert WELL_FORMED_ID.fullmatch(request_id) and body["request_id"] == request_id, reply.headers
    # The same security headers as a response from a route; an error is never kept by a cache
    # (a successful GET such as /health may be, revalidated by its ETag).
    normal = requests.get(f"{server.url}/health", timeout=10)
    for name in SECURITY:
        assert reply.headers.get(name) == normal.headers[name], name
    assert reply.headers.get("cache-control") == "no-store", reply.headers
    assert "Traceback" not in server.log()
    return body


MALFORMED = {
    "Content-Length: abc": (
        request("POST", "/oauth/token", "Content-Length: abc"),
        400,
        "invalid_request",
    ),
    "a negative Content-Length": (
        request("POST", "/oauth/token", "Content-Length: -5"),
        400,
        "invalid_request",
    ),
    "two different Content-Lengths": (
        request("POST", "/oauth/token", "Content-Length: 2", "Content-Length: 3", body=b"abc"),
        400,
        "invalid_request",
    ),
    "a chunked body": (
        request("POST", "/oauth/token", "Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        411,
        "length_required",
    ),
    "a garbage request line": (b"garbage\r\n\r\n", 400, "invalid_request"),
    "a request line of four words": (b"GET / HTTP/1.1 extra\r\n\r\n", 400, "invalid_request"),
    "TLS spoken to plain HTTP": (b"\x16\x03\x01\x02\x00\x01\xfc\x03\x03\r\n\r\n", 400, "invalid_request"),
    "HTTP/2.0": (b"GET /health HTTP/2.0\r\n\r\n", 505, "http_version_not_supported"),
    "TRACE": (request("TRACE", "/health"), 501, "not_implemented"),
    "CONNECT": (request("CONNECT", "example.com:443"), 501, "not_implemented"),
    "an invented method": (request("BREW", "/health"), 501, "not_implemented"),
    "a 70 kB header": (request("GET", "/health", "X-Big: " + "a" * 70_000), 431, "headers_too_large"),
    "150 headers": (
        request("GET", "/health", *(f"X-H{i}: 1" for i in range(150))),
        431,
        "headers_too_large",
    ),
    "a 70 kB request target": (request("GET", "/" + "a" * 70_000), 414, "uri_too_long"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_request_gets_the_json_error_shape(edge_server: LocalServer, case: str) -> None:
    data, status, error = MALFORMED[case]
    reply = answer(edge_server, data)
    assert_error_shape(edge_server, reply, status, error)
    assert b"<html" not in reply.body.lower()


def test_an_unknown_route_is_a_404(edge_server: LocalServer) -> None:
    for path in ("/nope", "/agents/some-id/nope", "/", "/health/x?y=1"):
        body = assert_error_shape(edge_server, answer(edge_server, request("GET", path)), 404, "not_found")
        assert "route" in str(body["error_description"])


def test_an_unknown_route_with_a_bearer_token_is_the_same_404(edge_server: LocalServer) -> None:
    token = agent_token(edge_server)
    for auth in (f"Bearer {token}", "Bearer not-a-token", "Basic Zm9vOmJhcg=="):
        reply = answer(edge_server, request("POST", "/nope", f"Authorization: {auth}", "Content-Length: 0"))
        body = assert_error_shape(edge_server, reply, 404, "not_found")
        assert "Credential" not in str(body) and "Signature" not in str(body)


def test_an_unknown_method_on_a_known_route_is_a_405_with_allow(edge_server: LocalServer) -> None:
    reply = answer(edge_server, request("DELETE", "/health"))
    assert_error_shape(edge_server, reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == "GET, OPTIONS"  # OPTIONS: CORS preflights
    reply = answer(edge_server, request("PUT", "/oauth/token", "Content-Length: 0"))
    assert_error_shape(edge_server, reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == "POST, OPTIONS"


def test_a_well_formed_request_id_is_echoed_on_a_404(edge_server: LocalServer) -> None:
    reply = answer(edge_server, request("GET", "/nope", "X-Request-Id: edge-case-0001"))
    body = assert_error_shape(edge_server, reply, 404, "not_found")
    assert body["request_id"] == "edge-case-0001"
    reply = answer(edge_server, request("GET", "/nope", "X-Request-Id: <script>"))
    assert assert_error_shape(edge_server, reply, 404, "not_found")["request_id"] != "<script>"


def test_a_body_shorter_than_its_content_length_is_refused(edge_server: LocalServer) -> None:
    data = request("POST", "/oauth/token", "Content-Length: 100", body=b"grant_type=")
    [reply] = exchange(edge_server, data, half_close=True)
    assert_error_shape(edge_server, reply, 400, "invalid_request")


def test_the_connection_stays_usable_after_a_404(edge_server: LocalServer) -> None:
    keep = b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n"
    not_found, head, health = exchange(edge_server, keep + request("GET", "/health"), heads=(1,))
    assert_error_shape(edge_server, not_found, 404, "not_found")
    assert head.status == 404 and head.body == b"" and int(head.headers["content-length"]) > 0
    assert health.status == 200 and health.json()["status"] == "ok"


def test_a_rejected_request_does_not_run_on_into_the_next(edge_server: LocalServer) -> None:
    """After a bad Content-Length the server cannot tell where the body ends: it closes."""
    smuggled = request("GET", "/health").replace(b"Connection: close", b"X-Pad: 1")
    data = b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n" + smuggled
    [reply] = exchange(edge_server, data)
    assert reply.headers["connection"] == "close"
    assert_error_shape(edge_server, reply, 400, "invalid_request")


def test_a_client_that_hangs_up_leaves_no_traceback(edge_server: LocalServer) -> None:
    cut_short = (b"GET /nope HTTP/1.1\r\n", b"POST /oauth/token HTTP/1.1\r\nContent-Length: 50\r\n\r\na", b"")
    for data in cut_short:
        with socket.create_connection(("127.0.0.1", edge_server.port), timeout=10) as sock:
            sock.sendall(data)
    assert requests.get(f"{edge_server.url}/health", timeout=10).status_code == 200
    assert "Traceback" not in edge_server.log()
