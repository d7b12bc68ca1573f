"""Test helpers: a programmable local HTTP server that counts what it receives."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], tuple[int, dict[str, str], bytes]]


class LocalServer:
    """An HTTP server on 127.0.0.1 whose answer per path is a function of the request.

    ``hits[path]`` counts requests per path and ``requests`` keeps them all (method, path,
    headers, body), so tests can count side effects exactly.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Responder] = {}
        self.hits: dict[str, int] = defaultdict(int)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                req = {"method": self.command, "path": path, "headers": dict(self.headers), "body": body,
                       "time": time.monotonic()}
                with server._lock:
                    server.hits[path] += 1
                    req["n"] = server.hits[path]
                    server.requests.append(req)
                responder = server.routes.get(path)
                status, headers, payload = responder(req) if responder else (404, {}, b"not found")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def route(self, path: str, responder: Responder) -> None:
        self.routes[path] = responder

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def json_response(status: int, data: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def reset_engine_state() -> None:
    """Forget what is cached from the settings: the settings themselves, the database engines,
    the broker connection and the usage counts not yet written (tests switch databases and
    embedded/Redis through the environment). Runtimes are not module state: a test starts its own (the ``start_runtime``
    fixture) and stops it."""
    from engine import bus, tracing
    from engine.config import get_settings
    from engine.db import dispose_engines
    from engine.queue import reset_broker
    from engine.services.usage import USAGE

    reset_broker()
    USAGE.clear()  # counts buffered for the previous test's database
    dispose_engines()
    bus.reset_bus()
    tracing.reset()
    get_settings.cache_clear()
    from engine import auth_limits

    auth_limits._instances.clear()  # in-memory login/sign-up counters start empty per test



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
