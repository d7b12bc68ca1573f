"""One error shape for every failure: ``{"error": {"code", "message", "fields"}}``.

Engine exceptions map to HTTP statuses here, so routers never build error responses by hand.
An unexpected exception becomes a 500 that carries only the request id (also in the
``X-Request-ID`` header and the log line), never a stack trace or a secret.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.crypto import SecretDecryptError
from engine.errors import Conflict, Forbidden, NotFound, QuotaExceeded, ValidationFailed

log = structlog.get_logger("flowmate.api")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, validation_failed")
    message: str = Field(description="What went wrong, for people")
    fields: dict[str, str] = Field(default_factory=dict, description="Offending field path → message")
    request_id: str | None = Field(None, description="Present on 500 answers: quote it when reporting")


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """Raise from a route for an error with a specific status/code (and optional headers)."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or {}
        self.headers = headers


_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_failed", 429: "too_many_requests", 500: "internal_error", 503: "unavailable",
}


def error_json(status: int, code: str, message: str, fields: dict[str, str] | None = None,
               headers: dict[str, str] | None = None, request_id: str | None = None) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    if request_id:
        detail["request_id"] = request_id
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers, so clients (and schemathesis) know their shape."""
    names = {400: "Bad request", 401: "Missing or invalid credentials", 403: "Role too low",
             404: "Not found (or another workspace's)", 409: "Conflict", 413: "Body too large",
             422: "Validation failed", 429: "Rate limit or quota exceeded", 503: "A dependency is down"}
    return {s: {"model": ErrorBody, "description": names.get(s, "Error")} for s in statuses}


def expected_error_response(exc: Exception, request_id: str | None = None, path: str = "") -> JSONResponse | None:
    """The JSON answer for an expected failure (ApiError or an engine exception), else None.

    The one mapping from exceptions to statuses: the FastAPI handlers below and the webhook fast
    lane (flowmate_app.api.hooks.serve_direct) both answer through it. A secret that no key
    decrypts is an operator's problem: logged, answered 500 with the request id.
    """
    if isinstance(exc, SecretDecryptError):
        from flowmate_app.api.access_log import redact_path

        log.error("api.secret_decrypt_failed", request_id=request_id, path=redact_path(path))
        return error_json(500, "internal_error", "a stored secret could not be decrypted; ask your administrator",
                          request_id=request_id)
    if isinstance(exc, ApiError):
        return error_json(exc.status, exc.code, exc.message, exc.fields, exc.headers)
    if isinstance(exc, ValidationFailed):
        return error_json(422, "validation_failed", exc.message, exc.fields)
    if isinstance(exc, NotFound):
        return error_json(404, "not_found", str(exc) or "not found")
    if isinstance(exc, Forbidden):
        return error_json(403, "forbidden", str(exc) or "forbidden")
    if isinstance(exc, Conflict):
        return error_json(409, "conflict", str(exc) or "conflict")
    if isinstance(exc, QuotaExceeded):
        return error_json(429, "quota_exceeded", str(exc) or "monthly run quota exceeded",
                          headers={"Retry-After": "3600"})
    return None


def install(app: FastAPI) -> None:
    """Register the handlers mapping engine exceptions and framework errors to the error shape."""

    async def _expected(request: Request, exc: Exception) -> JSONResponse:
        response = expected_error_response(exc, getattr(request.state, "request_id", None), request.url.path)
        if response is None:  # cannot happen: registered only for the classes it maps
            raise exc
        return response

    for exc_class in (ApiError, ValidationFailed, NotFound, Forbidden, Conflict, QuotaExceeded, SecretDecryptError):
        app.add_exception_handler(exc_class, _expected)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_r: Request, exc: RequestValidationError) -> JSONResponse:
        fields: dict[str, str] = {}
        for err in exc.errors():
            fields.setdefault(_loc_to_field(err.get("loc", ())), str(err.get("msg", "invalid")))
        return error_json(422, "validation_failed", "the request is invalid", fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_json(exc.status_code, code, message, headers=getattr(exc, "headers", None))


fallback_router = APIRouter()


@fallback_router.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           include_in_schema=False)
async def no_such_route(path: str, request: Request) -> None:
    """Unknown /api paths answer JSON 404 instead of falling through to the web app."""
    raise ApiError(404, "not_found", f"no API route {request.method} /api/{path}")
