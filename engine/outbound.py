"""Outbound-safety guard: every HTTP call the engine makes to a user-chosen URL goes through here.

Workflow authors choose URLs (the ``http.request`` action, webhooks of e-mail/SMS/CRM/Slack
providers, ...). Without a guard, a workflow could make the server call its own admin ports,
the database, other hosts on the private network or the cloud metadata service
(``169.254.169.254``) — classic server-side request forgery (SSRF).

The rules:

* only ``http`` and ``https`` URLs, and never with ``user:password@`` in them (credentials
  belong in connections, where they are stored encrypted, not in step configs and run data);
* the address we *actually connect to* must be public (``ipaddress``'s ``is_global``, plus
  explicit refusals of multicast/reserved/CGNAT and of IPv4 addresses hidden inside IPv6 forms
  such as ``::ffff:127.0.0.1``, 6to4 or NAT64), unless it lies in ``FLOWMATE_OUTBOUND_ALLOW``.

Checking the URL's hostname up front is not enough: DNS may answer differently a moment later
(DNS rebinding), and redirects move the call elsewhere. So :class:`GuardedNetworkBackend`
resolves the hostname itself, validates every resolved address and connects to the validated
IP. httpcore still uses the original hostname for the ``Host`` header and for TLS SNI and
certificate checks, so HTTPS keeps working. Each redirect hop opens (or reuses a pooled, already
validated) connection through the same backend, so every hop is checked too.

Public API: :func:`is_address_allowed`, :func:`check_url`, :func:`guarded_client`,
:class:`OutboundRefused`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

from engine.config import Settings
from engine.errors import PermanentError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})

_ALLOW_HINT = "set FLOWMATE_OUTBOUND_ALLOW to permit"

# Ranges Python's ``is_global`` treats as public but that must never be reached from a server.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPAT = ipaddress.ip_network("::/96")
#: IANA special-purpose registries (RFC 6890 and successors): never a server's destination,
#: whatever Python's ``is_global`` says about a few of them (192.0.0.9 and .10, 2001::/23 parts).
_SPECIAL_PURPOSE = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",
    "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
    "255.255.255.255/32",
    "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48",
    "3fff::/20", "5f00::/16", "fc00::/7",
))


class OutboundRefused(PermanentError):
    """An outbound call was refused by the guard. Retrying cannot help, so it is permanent."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if any (mapped, compat, 6to4, NAT64).

    Operating systems route these to the embedded IPv4 host, so ``::ffff:127.0.0.1`` is just
    loopback in disguise and must be judged as ``127.0.0.1``.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64_WELL_KNOWN or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPAT and int(ip) > 1:  # deprecated ::a.b.c.d; ``::`` and ``::1`` excluded
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (``None`` when it is). Most specific reason first."""
    if ip.is_unspecified:
        return "unspecified addresses"
    if ip.is_loopback:
        return "loopback addresses"
    if ip.is_link_local:
        return "link-local addresses (including cloud metadata endpoints)"
    if ip.is_multicast:
        return "multicast addresses"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT (100.64.0.0/10) addresses"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local addresses"
    if ip.is_reserved:
        return "reserved addresses"
    if ip.is_private:
        return "private-network addresses"
    if any(ip.version == net.version and ip in net for net in _SPECIAL_PURPOSE):
        return "IANA special-purpose addresses"
    if not ip.is_global:
        return "non-public addresses"
    return None


def _in_allow_list(ips: Iterable[IPAddress], settings: Settings) -> bool:
    return any(ip in net for ip in ips for net in settings.outbound_allow)


def is_address_allowed(ip: IPAddress | str, settings: Settings) -> tuple[bool, str]:
    """Decide whether the engine may connect to ``ip``; returns ``(allowed, reason)``.

    The allow-list is checked first, against the address as written and the IPv4 address it
    embeds (so allowing ``127.0.0.0/8`` also allows ``::ffff:127.0.0.1``). Otherwise the address must
    be public; wrapper forms (mapped, compat, 6to4, NAT64) are judged by the IPv4 they carry.
    ``reason`` is a human sentence either way.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.strip("[]"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    candidates: list[IPAddress] = [ip]
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if embedded is not None:
        candidates.append(embedded)

    if _in_allow_list(candidates, settings):
        return True, f"{ip} is inside FLOWMATE_OUTBOUND_ALLOW"
    # A wrapper form is judged by the IPv4 address it carries: that is where packets end up,
    # and the wrapper ranges themselves (e.g. ::ffff:0:0/96) are flagged "reserved" by Python.
    judged = embedded if embedded is not None else ip
    reason = _refusal_reason(judged)
    if reason is not None:
        shown = f"{ip} (embeds {judged})" if judged != ip else str(ip)
        return False, f"refused to call {shown}: {reason} are not allowed ({_ALLOW_HINT})"
    return True, f"{ip} is a public address"


def _check_url_syntax(url: httpx.URL) -> None:
    """Refuse what no address check can fix: odd schemes, embedded credentials, no host."""
    if url.scheme not in ALLOWED_SCHEMES:
        raise OutboundRefused(
            f"refused to call a {url.scheme or 'relative'!s} URL: only http and https are allowed"
        )
    if url.userinfo:
        raise OutboundRefused(
            "refused to call a URL with credentials in it: use a connection for authentication"
        )
    if not url.host:
        raise OutboundRefused("refused to call a URL without a host")


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve_allowed(host: str, port: int, settings: Settings) -> list[IPAddress]:
    """Resolve ``host`` and return only the addresses the guard permits, in DNS order.

    Raises :class:`OutboundRefused` when no resolved address is permitted (naming the first
    refused one) and ``socket.gaierror`` when the name does not resolve at all. Addresses that
    are refused are silently dropped when a permitted one exists: we never connect to them.
    """
    literal = _literal_ip(host)
    if literal is not None:
        ips: list[IPAddress] = [literal]
    else:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ips = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            addr = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if addr not in ips:
                ips.append(addr)
    allowed: list[IPAddress] = []
    first_refusal: str | None = None
    for ip in ips:
        ok, reason = is_address_allowed(ip, settings)
        if ok:
            allowed.append(ip)
        elif first_refusal is None:
            first_refusal = reason
    if not allowed:
        message = first_refusal or f"refused to call {host}: it resolves to no address"
        if literal is None:
            message = f"{message} ({host} resolves to it)"
        raise OutboundRefused(message)
    return allowed


async def check_url(url: str | httpx.URL, settings: Settings) -> list[IPAddress]:
    """Validate a URL before use (e.g. when a step is saved): scheme, credentials, addresses.

    Returns the permitted addresses. This is a convenience for early, friendly errors only; the
    binding check happens again at connect time inside :func:`guarded_client`.
    """
    parsed = httpx.URL(url) if isinstance(url, str) else url
    _check_url_syntax(parsed)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        return await resolve_allowed(parsed.host, port, settings)
    except socket.gaierror as exc:
        raise OutboundRefused(f"refused to call {parsed.host}: the name does not resolve ({exc})") from exc


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore backend that resolves, validates, then connects to the validated IP.

    Because the IP that is checked is the IP that is dialled, a DNS answer that changes between
    check and use (rebinding) cannot smuggle the call to a private address.
    """

    def __init__(self, settings: Settings, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._settings = settings
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                ips = await resolve_allowed(host, port, self._settings)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out resolving {host}") from exc
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc

        last_error: Exception | None = None
        for ip in ips:  # fall back like a browser would, but only across validated addresses
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("refused to use a unix socket for an outbound call")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose connection pool dials through :class:`GuardedNetworkBackend`.

    Proxies are not supported on purpose: through a proxy we could not see the final address.
    """

    def __init__(self, settings: Settings, *, verify: bool = True, retries: int = 0) -> None:
        super().__init__(verify=verify, trust_env=False, retries=retries)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=httpx.Limits().max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            retries=retries,
            network_backend=GuardedNetworkBackend(settings),
        )


def guarded_client(
    settings: Settings,
    *,
    timeout: float,
    follow_redirects: bool = True,
    max_redirects: int = 5,
    verify: bool = True,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that only reaches addresses the guard permits, on every hop.

    Use it as ``async with guarded_client(settings, timeout=10) as client: ...``. The request
    hook refuses bad schemes, credentials and literal private IPs on each hop before anything is
    sent; the transport then validates the address it actually connects to. Environment proxy
    variables are ignored (``trust_env=False``) so they cannot route around the guard.
    """

    async def _check_hop(request: httpx.Request) -> None:
        _check_url_syntax(request.url)
        literal = _literal_ip(request.url.host)
        if literal is not None:
            ok, reason = is_address_allowed(literal, settings)
            if not ok:
                raise OutboundRefused(reason)

    return httpx.AsyncClient(
        transport=GuardedTransport(settings, verify=verify),
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        trust_env=False,
        event_hooks={"request": [_check_hop]},
    )


def guarded_client_options(settings: Settings, *, verify: bool = True) -> dict[str, Any]:
    """The guard's parts (transport, per-hop check, no environment proxies) as keyword arguments
    for an ``httpx.AsyncClient`` subclass built elsewhere, e.g. Authlib's ``AsyncOAuth2Client``:
    OAuth token and API calls then pass the same checks as :func:`guarded_client`."""

    async def _check_hop(request: httpx.Request) -> None:
        _check_url_syntax(request.url)
        literal = _literal_ip(request.url.host)
        if literal is not None:
            ok, reason = is_address_allowed(literal, settings)
            if not ok:
                raise OutboundRefused(reason)

    return {"transport": GuardedTransport(settings, verify=verify), "trust_env": False,
            "event_hooks": {"request": [_check_hop]}}
