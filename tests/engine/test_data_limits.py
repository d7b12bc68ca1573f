"""Bounded data: HTTP responses read up to a cap (with bounded decompression), step data capped
with a marker, NUL characters stored faithfully, CRLF headers refused at once, secret-looking
URL query values and trigger fields redacted."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from engine.datalimits import TRUNCATED_KEY
from engine.db import session_scope
from engine.executor import Executor
from engine.models import Run
from engine.services.actor import Actor
from engine.services.runs import create_run, run_public
from engine.services.usage import flush_usage
from engine.services.workflows import create_workflow

MIB = 1024 * 1024
BOMB = gzip.compress(b"\0" * (100 * MIB), compresslevel=9)  # ~100 KiB that inflates to 100 MiB


class _Big(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/big":  # 50 MiB, streamed in 1 MiB chunks
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(50 * MIB))
            self.end_headers()
            chunk = b"x" * MIB
            try:
                for _ in range(50):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/bomb":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(BOMB)
        elif self.path == "/nul":
            data = json.dumps({"text": "a\u0000b", "n": 1}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            data = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def big_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Big)
    httpd.daemon_threads = True
    Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _run_workflow(workspace: dict, steps: list[dict], payload: dict | None = None) -> dict:
    with session_scope() as session:
        wf = create_workflow(session, Actor.system(workspace["id"]), {"name": "Data", "steps": steps})
    run, _ = create_run(wf.id, workspace_id=workspace["id"], trigger_type="manual", payload=payload or {},
                        enqueue=False)
    Executor().execute(run.id)
    flush_usage()  # while this test's database exists (the buffer is process-wide)
    with session_scope() as session:
        return run_public(session, session.get(Run, run.id))


_RSS_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    from engine.executor import Executor
    import engine.actions.http_request  # noqa: F401 - imports done before the baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = Executor().execute(sys.argv[1])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"status": outcome.status, "grew_kib": after - before}))
""")


@pytest.mark.parametrize("path", ["/big", "/bomb"])
def test_huge_and_bomb_responses_are_capped_and_worker_memory_stays_bounded(
        sqlite_db: str, workspace: dict, big_server: str, path: str) -> None:
    """A 50 MiB body and a gzip bomb (100 KiB → 100 MiB): the step reads at most 1 MiB here (the
    per-step cap), the worker process's peak RSS grows by far less than the body, and the stored
    output says it was cut."""
    with session_scope() as session:
        wf = create_workflow(session, Actor.system(workspace["id"]), {"name": "Big", "steps": [
            {"key": "get", "action": "http.request",
             "config": {"url": big_server + path, "max_response_bytes": MIB}}]})
    run, _ = create_run(wf.id, workspace_id=workspace["id"], trigger_type="manual", payload={}, enqueue=False)
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, run.id], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FLOWMATE_DATABASE_URL": sqlite_db})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["status"] == "succeeded", report
    print(f"{path}: worker peak RSS grew by {report['grew_kib'] // 1024} MiB")
    assert report["grew_kib"] < 40 * 1024, f"worker RSS grew by {report['grew_kib'] // 1024} MiB"
    with session_scope() as session:
        step = run_public(session, session.get(Run, run.id))["steps"][0]
    output = step["output"]
    # 1 MiB of body is over the 256 KiB step data cap: the stored output is the marker with the size
    assert output[TRUNCATED_KEY]["original_bytes"] > MIB
    assert output[TRUNCATED_KEY]["limit_bytes"] == 256 * 1024


def test_default_cap_and_truncation_marker_in_the_output(sqlite_db: str, workspace: dict, big_server: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.config import get_settings

    monkeypatch.setenv("FLOWMATE_STEP_DATA_MAX_BYTES", str(2 * MIB))
    monkeypatch.setenv("FLOWMATE_HTTP_MAX_RESPONSE_BYTES", str(MIB))
    get_settings.cache_clear()
    shown = _run_workflow(workspace, [{"key": "get", "action": "http.request", "config": {"url": big_server + "/big"}}])
    output = shown["steps"][0]["output"]
    assert shown["status"] == "succeeded", shown
    assert len(output["body"]) == MIB
    assert output["truncated"] == {"limit_bytes": MIB, "content_length": 50 * MIB}


def test_big_expression_values_are_stored_as_a_marker_with_their_size(sqlite_db: str, workspace: dict) -> None:
    steps = [{"key": "big", "action": "core.log",
              "config": {"message": "big", "data": {"a": "{{ 'x' * 900000 }}", "b": "{{ 'y' * 900000 }}"}}},
             {"key": "after", "action": "core.log", "config": {"message": "still running"}}]
    shown = _run_workflow(workspace, steps)
    assert shown["status"] == "succeeded", shown
    big = shown["steps"][0]
    for data in (big["input"], big["output"]):
        assert data[TRUNCATED_KEY]["original_bytes"] > 1_800_000
        assert "FLOWMATE_STEP_DATA_MAX_BYTES" in data[TRUNCATED_KEY]["reason"]


def test_nul_in_step_outputs_and_http_responses_round_trip(any_db: str, workspace: dict, big_server: str) -> None:
    """A pure step with NUL in its output used to leave the run 'running' forever on PostgreSQL,
    and an HTTP response with one failed the run with a raw database error."""
    steps = [{"key": "pure", "action": "core.log", "config": {"message": "{{ trigger.text }}"}},
             {"key": "get", "action": "http.request", "config": {"url": big_server + "/nul"}}]
    shown = _run_workflow(workspace, steps, payload={"text": "x\u0000y"})
    assert shown["status"] == "succeeded", shown
    assert shown["steps"][0]["output"]["message"] == "x\u0000y"
    assert shown["steps"][1]["output"]["body"] == {"text": "a\u0000b", "n": 1}


def test_a_crlf_in_a_rendered_header_fails_at_once(sqlite_db: str, workspace: dict, big_server: str) -> None:
    steps = [{"key": "get", "action": "http.request", "retry": {"max_attempts": 3, "initial_delay_s": 0},
              "config": {"url": big_server + "/ok", "headers": {"X-Name": "{{ trigger.name }}"}}}]
    shown = _run_workflow(workspace, steps, payload={"name": "Ann\r\nX-Injected: 1"})
    assert shown["status"] == "failed"
    assert shown["steps"][0]["attempts"] == 1, "a header that can never be sent must not be retried"
    assert "line break" in shown["steps"][0]["error"]


def test_secret_query_values_and_trigger_fields_are_redacted(sqlite_db: str, workspace: dict, big_server: str) -> None:
    steps = [{"key": "get", "action": "http.request",
              "config": {"url": big_server + "/ok?api_key={{ trigger.api_token }}&page=2"}},
             {"key": "bad", "action": "http.request", "retry": {"max_attempts": 1},
              "config": {"url": "http://127.0.0.1:1/x?access_token={{ trigger.api_token }}"}}]
    payload = {"api_token": "sk-live-123456", "password": "hunter22", "name": "Jo"}
    shown = _run_workflow(workspace, steps, payload=payload)
    text = json.dumps(shown)
    assert "sk-live-123456" not in text and "hunter22" not in text
    assert "page=2" in shown["steps"][0]["input"]["url"]
    assert shown["trigger"]["name"] == "Jo" and shown["trigger"]["password"] != "hunter22"
    assert "access_token=" in shown["steps"][1]["error"]
