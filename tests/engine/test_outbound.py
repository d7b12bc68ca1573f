"""The outbound guard refuses internal addresses in every disguise, after DNS and on redirects."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.config import Settings
from engine.errors import PermanentError
from engine.outbound import OutboundRefused, check_url, guarded_client, is_address_allowed

NO_ALLOW = Settings(outbound_allow=[])


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        type(self).hits.append(self.path)
        if self.path.startswith("/redirect-to/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/redirect-to/") :])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(host: str) -> tuple[ThreadingHTTPServer, list[str]]:
    handler = type("Handler", (_Handler,), {"hits": []})
    httpd = ThreadingHTTPServer((host, 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd, handler.hits


@pytest.fixture()
def server() -> Iterator[tuple[str, list[str]]]:
    httpd, hits = _serve("127.0.0.1")
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", ""),
        ("192.0.2.1", ""),  # documentation range
        ("198.18.0.1", ""),  # benchmarking range
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", ""),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),  # deprecated IPv4-compatible form
        ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 wrapping 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 wrapping 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),
    ],
)
def test_internal_addresses_are_refused(address: str, reason: str) -> None:
    allowed, message = is_address_allowed(address, NO_ALLOW)
    assert not allowed, message
    assert message.startswith("refused to call ")
    assert reason in message
    assert "FLOWMATE_OUTBOUND_ALLOW" in message


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    allowed, message = is_address_allowed(address, NO_ALLOW)
    assert allowed, message


def test_allow_list_permits_loopback_in_all_forms() -> None:
    settings = Settings(outbound_allow=["127.0.0.0/8"])
    for address in ("127.0.0.1", "127.0.0.2", "::ffff:127.0.0.1"):
        assert is_address_allowed(address, settings)[0]
    assert not is_address_allowed("10.0.0.1", settings)[0]
    assert not is_address_allowed("::1", settings)[0]


def test_allow_list_is_read_from_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWMATE_OUTBOUND_ALLOW", "10.1.0.0/16, fd00::/8")
    settings = Settings()
    assert is_address_allowed("10.1.2.3", settings)[0]
    assert is_address_allowed("fd00::5", settings)[0]
    assert not is_address_allowed("10.2.0.1", settings)[0]


def test_check_url_refuses_localhost_after_resolution() -> None:
    with pytest.raises(OutboundRefused, match="loopback.*localhost resolves to it"):
        asyncio.run(check_url("http://localhost:8080/admin", NO_ALLOW))


def test_check_url_refuses_numeric_hostname_tricks() -> None:
    for url in ("http://2130706433/", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/"):
        with pytest.raises(OutboundRefused, match="loopback"):
            asyncio.run(check_url(url, NO_ALLOW))


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user:pw@example.com/", "credentials"),
    ],
)
def test_check_url_refuses_bad_schemes_and_credentials(url: str, fragment: str) -> None:
    with pytest.raises(OutboundRefused, match=fragment) as info:
        asyncio.run(check_url(url, NO_ALLOW))
    assert "pw" not in str(info.value)
    assert isinstance(info.value, PermanentError)


def test_check_url_accepts_public_literal_without_connecting() -> None:
    assert [str(ip) for ip in asyncio.run(check_url("https://8.8.8.8/", NO_ALLOW))] == ["8.8.8.8"]


async def _get(settings: Settings, url: str) -> tuple[int, str]:
    async with guarded_client(settings, timeout=5) as client:
        response = await client.get(url)
        return response.status_code, response.text


def test_client_refuses_loopback_server_without_sending_anything(server: tuple[str, list[str]]) -> None:
    base, hits = server
    with pytest.raises(OutboundRefused, match="refused to call 127.0.0.1: loopback"):
        asyncio.run(_get(NO_ALLOW, base + "/secret"))
    assert hits == []


def test_client_checks_the_resolved_address_of_a_hostname(server: tuple[str, list[str]]) -> None:
    """``localhost`` is only known to be loopback after DNS: the connect-time check catches it."""
    base, hits = server
    port = base.rsplit(":", 1)[1]
    with pytest.raises(OutboundRefused, match="loopback"):
        asyncio.run(_get(NO_ALLOW, f"http://localhost:{port}/secret"))
    assert hits == []


def test_client_reaches_allow_listed_server(server: tuple[str, list[str]]) -> None:
    base, hits = server
    port = base.rsplit(":", 1)[1]
    settings = Settings(outbound_allow=["127.0.0.0/8"])
    assert asyncio.run(_get(settings, base + "/ok")) == (200, "hello")
    # localhost also resolves to ::1 (not allowed) on many hosts: only 127.0.0.1 is dialled.
    assert asyncio.run(_get(settings, f"http://localhost:{port}/ok2")) == (200, "hello")
    assert hits == ["/ok", "/ok2"]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: link-local"),
        ("http://[::1]/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("gopher://127.0.0.1/", "only http and https"),
    ],
)
def test_redirect_to_refused_address_fails(server: tuple[str, list[str]], target: str, reason: str) -> None:
    base, hits = server
    settings = Settings(outbound_allow=["127.0.0.1/32"])
    with pytest.raises((OutboundRefused, PermanentError)) as info:
        asyncio.run(_get(settings, f"{base}/redirect-to/{target}"))
    if "gopher" not in target:
        assert isinstance(info.value, OutboundRefused)
        assert reason in str(info.value)
    assert hits == [f"/redirect-to/{target}"]


def test_redirect_to_literal_outside_allow_list_fails(server: tuple[str, list[str]]) -> None:
    base, hits = server
    settings = Settings(outbound_allow=["127.0.0.1/32"])
    with pytest.raises(OutboundRefused, match="127.0.0.2: loopback"):
        asyncio.run(_get(settings, f"{base}/redirect-to/http://127.0.0.2:1/"))
    assert len(hits) == 1


def test_redirect_to_hostname_is_checked_after_resolution() -> None:
    """Only 127.0.0.2 is allowed; a redirect to ``localhost`` (127.0.0.1 / ::1) must not get through.

    The hostname is only known to be loopback after DNS, so this exercises the connect-time check.
    """
    allowed_httpd, allowed_hits = _serve("127.0.0.2")
    target_httpd, target_hits = _serve("127.0.0.1")
    try:
        settings = Settings(outbound_allow=["127.0.0.2/32"])
        target = f"http://localhost:{target_httpd.server_address[1]}/internal"
        base = f"http://127.0.0.2:{allowed_httpd.server_address[1]}"
        with pytest.raises(OutboundRefused, match="loopback.*localhost resolves to it"):
            asyncio.run(_get(settings, f"{base}/redirect-to/{target}"))
        assert allowed_hits == [f"/redirect-to/{target}"]
        assert target_hits == []
    finally:
        for httpd in (allowed_httpd, target_httpd):
            httpd.shutdown()
            httpd.server_close()


def test_redirect_within_allowed_server_is_followed(server: tuple[str, list[str]]) -> None:
    base, hits = server
    settings = Settings(outbound_allow=["127.0.0.1/32"])
    assert asyncio.run(_get(settings, f"{base}/redirect-to/{base}/final")) == (200, "hello")
    assert hits[-1] == "/final"


@pytest.mark.parametrize("address", [
    "192.0.0.1", "192.0.0.9", "192.0.0.10", "192.0.0.170", "192.0.2.7", "198.18.0.1", "198.51.100.3",
    "203.0.113.9", "192.88.99.1", "255.255.255.255", "2001:1::1", "2001:db8::1", "100::1", "3fff::1",
])
def test_iana_special_purpose_ranges_are_refused(address: str) -> None:
    allowed, message = is_address_allowed(address, NO_ALLOW)
    assert not allowed, f"{address} must be refused"
    assert "FLOWMATE_OUTBOUND_ALLOW" in message
