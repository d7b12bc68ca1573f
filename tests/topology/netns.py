"""A small network of "machines" built from Linux network namespaces, for multi-host tests.

Each host is a network namespace (``ip netns``) joined to the test's own namespace by a veth
pair on its own /30; processes run in it through ``ip netns exec`` plus ``unshare --uts`` so it
also has its own hostname (worker ids carry the hostname, as on real machines). The test's
namespace plays the part of the shared infrastructure: PostgreSQL and Redis are reached over
the veth addresses through :class:`Forwarder` (connections then reach the real servers from
loopback), and :class:`Recorder` is an HTTP endpoint that notes which host called it.

Everything carries a random suffix and is removed by ``close()``, also after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


def namespaces_permitted() -> str | None:
    """None when this process may create namespaces and veths, else the reason it may not."""
    probe = f"fmprobe{uuid.uuid4().hex[:6]}"
    try:
        result = sh("ip", "netns", "add", probe, check=False)
    except FileNotFoundError:
        return "the `ip` command (iproute2) is not installed"
    if result.returncode != 0:
        return f"network namespaces are not permitted here: {result.stderr.strip()}"
    try:
        veth = sh("ip", "link", "add", f"{probe}h", "type", "veth", "peer", "name", f"{probe}n", check=False)
        if veth.returncode != 0:
            return f"veth pairs are not permitted here: {veth.stderr.strip()}"
        sh("ip", "link", "del", f"{probe}h", check=False)
        unshare = subprocess.run(["ip", "netns", "exec", probe, "unshare", "--uts", "true"], capture_output=True,
                                 text=True, timeout=30)
        if unshare.returncode != 0:
            return f"UTS namespaces are not permitted here: {unshare.stderr.strip()}"
    finally:
        sh("ip", "netns", "del", probe, check=False)
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.0.0.0/8 that no interface or route of this machine uses."""
    used = sh("ip", "-4", "route", "show", "table", "all").stdout + sh("ip", "-4", "addr").stdout
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24")
        if f"10.{net.network_address.packed[1]}.{net.network_address.packed[2]}." not in used:
            return net
    raise RuntimeError("no free 10.x.y.0/24 subnet found")


class Host:
    """One namespace: ``addr`` is its address, ``gateway`` the test side of its link."""

    def __init__(self, name: str, netns: str, link: str, addr: str, gateway: str, hostname: str) -> None:
        self.name, self.netns, self.link, self.addr, self.gateway, self.hostname = (
            name, netns, link, addr, gateway, hostname)

    def prefix(self) -> list[str]:
        """argv prefix that runs a command on this host (its network, its hostname)."""
        return ["ip", "netns", "exec", self.netns, "unshare", "--uts", "--", "sh", "-c",
                f'hostname {self.hostname} && exec "$@"', "sh"]

    def cut(self) -> None:
        """Pull the cable: the link goes down, packets in both directions are dropped."""
        sh("ip", "link", "set", self.link, "down")


class Topology:
    """Namespaces joined to this one by veth pairs; ``add`` a host, ``close`` removes everything."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.subnet = _free_subnet()
        self.hosts: dict[str, Host] = {}
        self._links: list[str] = []
        self._netns: list[str] = []

    @property
    def cidr(self) -> str:
        return str(self.subnet)

    def add(self, name: str) -> Host:
        index = len(self.hosts)
        base = self.subnet.network_address + 4 * index
        gateway, addr = str(base + 1), str(base + 2)
        netns, outer, inner = f"fm{self.tag}{name}", f"fm{self.tag}{name}h", f"fm{self.tag}{name}n"
        assert len(outer) <= 15, "interface names are at most 15 characters"
        sh("ip", "netns", "add", netns)
        self._netns.append(netns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        self._links.append(outer)
        sh("ip", "link", "set", inner, "netns", netns)
        sh("ip", "addr", "add", f"{gateway}/30", "dev", outer)
        sh("ip", "link", "set", outer, "up")
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{addr}/30", "dev", inner],
                    ["ip", "link", "set", inner, "up"], ["ip", "route", "add", "default", "via", gateway]):
            sh("ip", "netns", "exec", netns, *cmd)
        host = Host(name, netns, outer, addr, gateway, f"fm-{name}-{self.tag}")
        self.hosts[name] = host
        return host

    def close(self) -> None:
        for link in self._links:
            sh("ip", "link", "del", link, check=False)
        for netns in self._netns:
            # Any process still inside would keep the namespace alive: kill them first.
            pids = sh("ip", "netns", "pids", netns, check=False).stdout.split()
            for pid in pids:
                sh("kill", "-9", pid, check=False)
            sh("ip", "netns", "del", netns, check=False)


class Forwarder:
    """TCP forwarder: listens on some addresses of this namespace, connects to ``target``.

    It stands for the network path to a server: when a host's link is cut, that host's
    connections through it just stall (no FIN, no RST), as they would across a real network.
    """

    def __init__(self, listen: list[str], target: tuple[str, int]) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(listen), self.loop).result(timeout=10)

    async def _start(self, listen: list[str]) -> int:
        port = 0
        for host in listen:
            server = await asyncio.start_server(self._handle, host, port)
            port = server.sockets[0].getsockname()[1]
            self._servers.append(server)
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            for writer in list(self._writers):
                with contextlib.suppress(Exception):
                    writer.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class Recorder:
    """An HTTP endpoint the workflow's step calls: notes caller address and Idempotency-Key."""

    def __init__(self, host: str, delay: float = 0.0) -> None:
        self.hits: list[dict[str, Any]] = []
        lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if delay:
                    time.sleep(delay)
                with lock:
                    recorder.hits.append({"client": self.client_address[0], "time": time.monotonic(),
                                          "key": self.headers.get("Idempotency-Key")})
                body = json.dumps({"ok": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
