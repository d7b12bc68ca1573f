"""``http.request`` against a real local HTTP server: outputs, headers, auth and error classes."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from engine.actions.http_request import Config, run
from engine.config import Settings
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError, RetryableError
from engine.outbound import OutboundRefused
from engine.registry import ACTIONS

TOKEN = "s3cr3t-token-value"
SETTINGS = Settings(outbound_allow=["127.0.0.1/32"])


class _Handler(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        seen = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        type(self).received.append(seen)
        path = self.path.split("?", 1)[0]
        if path == "/slow":
            time.sleep(2)  # the client has given up by now: close without answering
            self.close_connection = True
            return
        if path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            # Echo the Authorization header back, like a careless API would, to test redaction.
            self._reply(status, "text/plain", f"oops {status} auth={self.headers.get('Authorization')}")
        elif path == "/text":
            self._reply(200, "text/plain; charset=utf-8", "plain words")
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._reply(200, "application/json", json.dumps({"ok": True, "seen": seen}))

    def _reply(self, status: int, content_type: str, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    handler = type("Handler", (_Handler,), {"received": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.received
    finally:
        httpd.shutdown()
        httpd.server_close()


def _connections(ref: str) -> ConnectionData:
    table = {
        "api-bearer": ConnectionData("c1", "http", "api-bearer", {"auth_type": "bearer"}, {"token": TOKEN}),
        "api-basic": ConnectionData(
            "c2", "http", "api-basic", {"auth_type": "basic"}, {"username": "ada", "password": TOKEN}
        ),
        "api-header": ConnectionData(
            "c3",
            "http",
            "api-header",
            {"auth_type": "header"},
            {"header_name": "X-Api-Key", "header_value": TOKEN},
        ),
    }
    if ref not in table:
        raise PermanentError(f"connection {ref!r} not found")
    return table[ref]


def _ctx(settings: Settings = SETTINGS) -> ActionContext:
    return ActionContext(
        run_id="run-42",
        step_key="call_api",
        workflow_id="wf-1",
        workspace_id="ws-1",
        settings=settings,
        connection_loader=_connections,
    )


def _run(config: dict[str, Any], settings: Settings = SETTINGS) -> dict[str, Any]:
    return asyncio.run(run(_ctx(settings), Config.model_validate(config)))


def test_registered_with_a_form_schema() -> None:
    spec = ACTIONS["http.request"]
    assert spec.category == "http" and spec.side_effect
    props = spec.config_schema()["properties"]
    assert {"method", "url", "headers", "query", "json", "body", "timeout_s", "connection"} <= set(props)
    assert props["url"]["title"] == "URL"


def test_json_response_is_parsed_and_idempotency_key_sent(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = server
    out = _run({"method": "POST", "url": base + "/items", "json": {"name": "Ada"}, "query": {"page": 2}})
    assert out["status"] == 200
    assert out["body"]["ok"] is True
    assert out["headers"]["content-type"] == "application/json"
    (req,) = received
    assert req["method"] == "POST"
    assert req["path"] == "/items?page=2"
    assert json.loads(req["body"]) == {"name": "Ada"}
    assert req["headers"]["Idempotency-Key"] == "run-42:call_api"


def test_user_idempotency_key_and_raw_body_are_kept(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = server
    _run(
        {
            "method": "PUT",
            "url": base + "/raw",
            "headers": {"idempotency-key": "mine", "Content-Type": "text/csv"},
            "body": "a,b\n1,2",
        }
    )
    headers = received[0]["headers"]
    assert headers["idempotency-key"] == "mine"
    assert "Idempotency-Key" not in headers or headers["Idempotency-Key"] == "mine"
    assert received[0]["body"] == "a,b\n1,2"


def test_text_response_is_returned_as_text(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, _ = server
    assert _run({"url": base + "/text"})["body"] == "plain words"


def test_head_request(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = server
    out = _run({"method": "HEAD", "url": base + "/text"})
    assert out["status"] == 200 and out["body"] == ""
    assert received[0]["method"] == "HEAD"


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_server_errors_and_throttling_are_retryable(
    server: tuple[str, list[dict[str, Any]]], status: int
) -> None:
    base, _ = server
    with pytest.raises(RetryableError, match=f"HTTP {status}: oops {status}"):
        _run({"url": f"{base}/status/{status}"})


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_permanent(server: tuple[str, list[dict[str, Any]]], status: int) -> None:
    base, _ = server
    with pytest.raises(PermanentError, match=f"HTTP {status}") as info:
        _run({"url": f"{base}/status/{status}"})
    assert not info.value.retryable


def test_timeout_is_retryable(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, _ = server
    started = time.monotonic()
    with pytest.raises(RetryableError, match="timed out"):
        _run({"url": base + "/slow", "timeout_s": 0.3})
    assert time.monotonic() - started < 1.5


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:  # find a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RetryableError, match="ConnectError"):
        _run({"url": f"http://127.0.0.1:{port}/"})


def test_bearer_connection_is_applied_and_never_echoed(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = server
    out = _run({"url": base + "/me", "connection": "api-bearer"})
    assert received[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in json.dumps(out)  # the server echoed it back, the output must not keep it
    with pytest.raises(PermanentError) as info:
        _run({"url": base + "/status/401", "connection": "api-bearer"})
    assert TOKEN not in str(info.value)


def test_basic_and_header_connections(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = server
    _run({"url": base + "/a", "connection": "api-basic"})
    _run({"url": base + "/b", "connection": "api-header"})
    expected = base64.b64encode(f"ada:{TOKEN}".encode()).decode()
    assert received[0]["headers"]["Authorization"] == f"Basic {expected}"
    assert received[1]["headers"]["X-Api-Key"] == TOKEN


def test_unknown_connection_is_permanent(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = server
    with pytest.raises(PermanentError, match="not found"):
        _run({"url": base + "/x", "connection": "nope"})
    assert received == []


def test_internal_address_refused_without_allow_list(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = server
    with pytest.raises(OutboundRefused, match="refused to call 127.0.0.1: loopback"):
        _run({"url": base + "/x"}, settings=Settings(outbound_allow=[]))
    assert received == []


def test_redirect_to_metadata_service_is_refused(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, _ = server
    with pytest.raises(PermanentError, match="169.254.169.254: link-local"):
        _run({"url": base + "/redirect"})


def test_redirect_left_unfollowed_is_permanent(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, _ = server
    with pytest.raises(PermanentError, match="HTTP 302"):
        _run({"url": base + "/redirect", "follow_redirects": False})


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="either json or body"):
        Config.model_validate({"url": "https://example.com", "json": {"a": 1}, "body": "x"})
    with pytest.raises(ValidationError):
        Config.model_validate({"url": "https://example.com", "timeout_s": 0})
    with pytest.raises(ValidationError):
        Config.model_validate({"url": "https://example.com", "timeout_s": 301})
    with pytest.raises(ValidationError):
        Config.model_validate({"url": "https://example.com", "method": "TRACE"})
    assert Config.model_validate({"url": "https://example.com"}).method.value == "GET"
