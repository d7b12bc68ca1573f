"""Fixtures for the engine tests that start real `flowmate worker` / `flowmate scheduler` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def cluster_env(pg_db: str, redis_env: dict[str, str]) -> dict[str, str]:
    """Environment for worker/scheduler subprocesses: same database and queue as the test, short
    leases and sweeps so a killed worker's runs are taken over within seconds."""
    return {**os.environ, **redis_env, "FLOWMATE_DATABASE_URL": pg_db, "FLOWMATE_LEASE_SECONDS": "3",
            "FLOWMATE_HEARTBEAT_SECONDS": "1", "FLOWMATE_SWEEP_INTERVAL_SECONDS": "1",
            "FLOWMATE_QUEUED_GRACE_SECONDS": "2", "FLOWMATE_OUTBOUND_ALLOW": "127.0.0.0/8",
            "FLOWMATE_LOG_FORMAT": "json"}


@pytest.fixture
def spawn(cluster_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start `python -m engine.cli <args>` in its own session; every one is stopped afterwards."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=cluster_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
