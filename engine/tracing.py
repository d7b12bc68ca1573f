"""OpenTelemetry traces, off by default: one trace follows a run across web, queue and worker.

Why: a run crosses processes (webhook intake in the web process, the queue, a worker on another
machine); with ``FLOWMATE_OTEL_EXPORTER_OTLP_ENDPOINT`` set, each part records spans and sends
them over OTLP/HTTP (protobuf) to a collector, so one run reads as one tree:

    flowmate.webhook (intake; its parent is the sender's W3C ``traceparent``, when it sent one)
      flowmate.enqueue
      flowmate.run      (in the worker; parent = the traceparent stored on the run row)
        flowmate.step   (one per step execution; http.request forwards ``traceparent``)

Attributes are ids, names, counts and statuses only: never a payload, a header, a config value
or a secret (the helpers below take no free-form attributes for that reason).

Disabled (no endpoint), every helper is a no-op that costs one settings lookup: no SDK object is
built and no import of the SDK happens.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from engine.config import get_settings

TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
SERVICE_NAME = "flowmate"

_lock = threading.Lock()
_provider: Any = None
_provider_endpoint: str | None = None


def _endpoint() -> str | None:
    value = get_settings().otel_exporter_otlp_endpoint
    return value.rstrip("/") if value else None


def _tracer() -> Any | None:
    """The tracer for the configured endpoint (built once per endpoint), or None when disabled."""
    global _provider, _provider_endpoint
    endpoint = _endpoint()
    if not endpoint:
        return None
    with _lock:
        if _provider is None or _provider_endpoint != endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            if _provider is not None:
                _provider.shutdown()
            provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
            # The OTLP convention: the endpoint is the collector's base URL; traces go to /v1/traces.
            url = endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=5),
                                                           schedule_delay_millis=1000))
            _provider, _provider_endpoint = provider, endpoint
        return _provider.get_tracer("flowmate")


def enabled() -> bool:
    return _endpoint() is not None


def flush(timeout_s: float = 5.0) -> None:
    """Send what is buffered now (tests; a process about to exit)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_s * 1000))


def reset() -> None:
    """Shut the exporter down and forget it (tests that switch endpoints)."""
    global _provider, _provider_endpoint
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _provider, _provider_endpoint = None, None


atexit.register(flush)


def valid_traceparent(value: str | None) -> str | None:
    """A well-formed W3C traceparent (lower-case, version 00..fe, non-zero ids), else None."""
    if not value:
        return None
    value = value.strip().lower()
    if not TRACEPARENT_RE.match(value) or value.startswith("ff"):
        return None
    _, trace_id, span_id, _ = value.split("-")
    if set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return value


def _parent(traceparent: str | None) -> Any | None:
    value = valid_traceparent(traceparent)
    if value is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": value})


@contextlib.contextmanager
def span(name: str, *, parent: str | None = None, kind: str = "internal", **attributes: str | int | None
         ) -> Iterator[Any | None]:
    """A span named ``name`` around the block (current inside it), or nothing when disabled.

    ``parent`` is a W3C traceparent to continue (an incoming webhook's, a run's); without it the
    span is a child of the current span. Attribute values are ids, names and numbers only.
    """
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    attrs = {f"flowmate.{k}": v for k, v in attributes.items() if v is not None}
    span_kind = {"server": SpanKind.SERVER, "consumer": SpanKind.CONSUMER, "producer": SpanKind.PRODUCER,
                 "client": SpanKind.CLIENT}.get(kind, SpanKind.INTERNAL)
    with tracer.start_as_current_span(name, context=_parent(parent), kind=span_kind, attributes=attrs,
                                      record_exception=False) as current:  # messages may quote input
        yield current


def set_status(target: Any | None, status: Any) -> None:
    """Record the outcome (``flowmate.status``) on ``target`` (a span from ``span``), if tracing."""
    if target is not None:
        target.set_attribute("flowmate.status", str(getattr(status, "value", status)))


def set_current_status(status: Any) -> None:
    """Record the outcome on the current span (the run span, where the executor finishes a run)."""
    if _provider is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute("flowmate.status", str(getattr(status, "value", status)))


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (to store on a run, or send onward), if any."""
    if _provider is None or not enabled():
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add ``traceparent`` for the current span to outgoing ``headers`` (unless already set)."""
    value = current_traceparent()
    if value and not any(k.lower() == "traceparent" for k in headers):
        headers["traceparent"] = value
    return headers


# -- the run span, opened and closed around the executor's call (not one ``with`` block) -------------


def start_run(run: dict[str, Any]) -> Any | None:
    """Open ``flowmate.run`` for a claimed run (parent: the traceparent stored on it) and make it
    current on this thread; ``end_run`` closes it. None when disabled."""
    tracer = _tracer()
    if tracer is None:
        return None
    from opentelemetry import context, trace
    from opentelemetry.trace import SpanKind

    current = tracer.start_span("flowmate.run", context=_parent(run.get("traceparent")), kind=SpanKind.CONSUMER,
                                attributes={"flowmate.workflow_id": str(run.get("workflow_id") or ""),
                                            "flowmate.run_id": str(run.get("id") or ""),
                                            "flowmate.trigger_type": str(run.get("trigger_type") or ""),
                                            "flowmate.attempt": int(run.get("attempt") or 0)})
    token = context.attach(trace.set_span_in_context(current))
    return current, token


def end_run(handle: Any | None) -> None:
    if handle is None:
        return
    from opentelemetry import context

    current, token = handle
    with contextlib.suppress(ValueError):  # detached on another context (should not happen)
        context.detach(token)
    current.end()


def step_span(step_path: str, action: str, attempt: int) -> contextlib.AbstractContextManager[Any | None]:
    """``flowmate.step`` around one step execution (a child of the current run span)."""
    return span("flowmate.step", step_path=step_path, action=action, attempt=attempt)
