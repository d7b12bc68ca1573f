"""OpenTelemetry traces as a collector receives them: a local OTLP/HTTP endpoint decodes the
protobuf ExportTraceServiceRequest the SDK sends, and the test reads the tree of one webhook run.

webhook (child of the sender's traceparent) → enqueue, run (in the worker) → one span per step;
http.request sends traceparent onward; no payload value or header value is ever an attribute."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from support import LocalServer, json_response, wait_for

from engine import tracing
from engine.db import session_scope
from engine.models import Run

MARKER = f"payload-{uuid.uuid4().hex[:8]}@example.com.au"
HEADER_VALUE = f"hdr-{uuid.uuid4().hex[:8]}"
SENDER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SENDER_SPAN = "00f067aa0ba902b7"


class Collector(LocalServer):
    """An OTLP/HTTP trace receiver: POST /v1/traces with a protobuf body."""

    def __init__(self) -> None:
        super().__init__()
        self.route("/v1/traces", self._export)

    def _export(self, req: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return 200, {"Content-Type": "application/x-protobuf"}, ExportTraceServiceResponse().SerializeToString()

    def spans(self) -> list[dict[str, Any]]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        out = []
        for req in list(self.requests):
            if req["path"] != "/v1/traces":
                continue
            body = req["body"]
            if (req["headers"].get("Content-Encoding") or "") == "gzip":
                body = gzip.decompress(body)
            decoded = ExportTraceServiceRequest.FromString(body)
            for resource in decoded.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        out.append({
                            "name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                        })
        return out

    def raw(self) -> bytes:
        return b"".join(r["body"] for r in self.requests)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


@pytest.fixture
def downstream() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.route("/crm", lambda req: json_response(200, {"ok": True}))
    yield srv
    srv.close()


def test_one_webhook_run_is_one_trace(api_factory: Any, collector: Collector, downstream: LocalServer,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWMATE_OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("FLOWMATE_OUTBOUND_ALLOW", "127.0.0.0/8")
    api = api_factory()
    wf = api.create_workflow({
        "name": "Traced",
        "trigger": {"type": "webhook", "config": {}},
        "steps": [
            {"key": "shape", "action": "data.transform",
             "config": {"mapping": {"email": "{{ trigger.body.email }}"}}},
            {"key": "push", "action": "http.request",
             "config": {"method": "POST", "url": downstream.url + "/crm",
                        "json": {"email": "{{ steps.shape.output.email }}"}}},
        ],
    })
    r = api.client.post(wf["webhook_path"], json={"email": MARKER},
                        headers={"traceparent": f"00-{SENDER_TRACE}-{SENDER_SPAN}-01", "X-Custom": HEADER_VALUE})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    with session_scope() as session:
        stored = session.get(Run, run_id).traceparent
    assert stored is not None and stored.split("-")[1] == SENDER_TRACE  # the worker continues this trace

    from engine.executor import Executor

    assert Executor().execute(run_id).status == "succeeded"  # what a worker does with the message
    tracing.flush()

    def complete() -> list[dict] | None:
        spans = collector.spans()
        return spans if sum(s["name"] == "flowmate.step" for s in spans) >= 2 else None

    spans = wait_for(complete, timeout=20)
    by_name: dict[str, list[dict]] = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    assert {"flowmate.webhook", "flowmate.enqueue", "flowmate.run", "flowmate.step"} <= set(by_name), by_name
    assert {s["trace_id"] for s in spans} == {SENDER_TRACE}  # one trace, the sender's

    (hook,) = by_name["flowmate.webhook"]
    (enqueue,) = by_name["flowmate.enqueue"]
    (run,) = by_name["flowmate.run"]
    assert hook["parent"] == SENDER_SPAN
    assert enqueue["parent"] == hook["span_id"] and run["parent"] == hook["span_id"]
    assert run["attributes"] == {
        "flowmate.workflow_id": wf["id"], "flowmate.run_id": run_id, "flowmate.trigger_type": "webhook",
        "flowmate.attempt": 1, "flowmate.status": "succeeded",
    }
    steps = {s["attributes"]["flowmate.step_path"]: s for s in by_name["flowmate.step"]}
    assert set(steps) == {"shape", "push"}
    assert all(s["parent"] == run["span_id"] for s in steps.values())
    assert steps["push"]["attributes"] == {"flowmate.step_path": "push", "flowmate.action": "http.request",
                                           "flowmate.attempt": 1, "flowmate.status": "succeeded"}

    # http.request sent the step's context onward.
    (call,) = downstream.requests
    assert call["headers"]["traceparent"] == f"00-{SENDER_TRACE}-{steps['push']['span_id']}-01"

    # Never a payload or header value in what the collector received.
    raw = collector.raw()
    assert MARKER.encode() not in raw and HEADER_VALUE.encode() not in raw
    for span in spans:
        assert MARKER not in repr(span["attributes"]) and HEADER_VALUE not in repr(span["attributes"])


def test_off_by_default(api: Any, downstream: LocalServer) -> None:
    """No endpoint: no exporter, no trace context stored or sent."""
    assert not tracing.enabled()
    wf = api.create_workflow()
    r = api.client.post(wf["webhook_path"], json={"x": 1},
                        headers={"traceparent": f"00-{SENDER_TRACE}-{SENDER_SPAN}-01"})
    assert r.status_code == 202
    with session_scope() as session:
        assert session.get(Run, r.json()["run_id"]).traceparent is None
    assert tracing._provider is None
