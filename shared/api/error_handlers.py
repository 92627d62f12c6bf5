"""Renders every non-2xx answer in the one error envelope (README, "Conventions every route
follows").

{"error": {"code": "ITEM_NOT_FOUND", "detail": "Item not found", "request_id": "…"}}
"""

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, cast

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..data.db import is_database_unavailable, is_unstorable_text
from ..edge.request_id import request_id_var
from ..errors import AppError, ServiceUnavailable

logger = structlog.get_logger("app.errors")

# Codes for HTTPExceptions raised without one of their own (by Starlette, FastAPI, libraries).
STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
_UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")


class FieldError(BaseModel):
    loc: str = Field(examples=["body.title"])
    message: str = Field(examples=["String should have at least 1 character"])


class ErrorBody(BaseModel):
    code: str = Field(examples=["ITEM_NOT_FOUND"])
    detail: str = Field(examples=["Item not found"])
    request_id: str | None = Field(examples=["6f1c2a9e-6b0e-4d8e-9a55-1a2b3c4d5e6f"])
    fields: list[FieldError] | None = Field(
        default=None, description="Present on VALIDATION_ERROR: one entry per invalid field."
    )


class ErrorEnvelope(BaseModel):
    """The shape of every non-2xx response."""

    error: ErrorBody


ERROR_DESCRIPTIONS = {
    400: "Bad request (see `error.code`)",
    401: "Missing or invalid access token",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict (see `error.code`)",
    410: "Gone: it existed, and no longer can be had (see `error.code`)",
    412: "Precondition failed",
    413: "Request body too large (over MAX_BODY_BYTES)",
    422: "Validation error (`error.fields` lists each problem)",
    429: "Rate limited: `Retry-After` says how many seconds to wait",
    503: "Service unavailable: the database cannot serve now; retry later",
}


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error statuses it can answer, each with the envelope."""
    return {
        code: {"model": ErrorEnvelope, "description": ERROR_DESCRIPTIONS.get(code, "Error")}
        for code in status_codes
    }


def error_response(
    status_code: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"code": code, "detail": detail, "request_id": request_id_var.get(), **extra}
    headers = dict(headers or {})
    if status_code == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse({"error": body}, status_code=status_code, headers=headers)


def _status_phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


# Handlers are registered per exception class, so each receives that class (hence the casts).
async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    error = cast(AppError, exc)
    return error_response(
        error.status_code, error.code, error.message, headers=error.headers, **error.extra
    )


async def _http_exception(_: Request, exc: Exception) -> JSONResponse:
    error = cast(HTTPException, exc)
    status = error.status_code
    code = STATUS_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    detail: Any = error.detail
    # fastapi-users style: detail is a code ("LOGIN_BAD_CREDENTIALS") or {"code", "reason"}.
    if isinstance(detail, dict) and isinstance(detail.get("code"), str):
        code, detail = detail["code"], detail.get("reason") or _status_phrase(status)
    elif isinstance(detail, str) and _UPPER_SNAKE.match(detail):
        code, detail = detail, _status_phrase(status)
    elif not isinstance(detail, str) or not detail:
        detail = _status_phrase(status)
    return error_response(status, code, detail, headers=error.headers)


def _field_errors(error: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for item in error.errors():
        if item["type"] == "json_invalid":  # loc is ("body", <character offset>)
            reason = (item.get("ctx") or {}).get("error", "malformed JSON")
            fields.append({"loc": "body", "message": f"Invalid JSON: {reason}"})
            continue
        fields.append({"loc": ".".join(str(part) for part in item["loc"]), "message": item["msg"]})
    return fields


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    fields = _field_errors(cast(RequestValidationError, exc))
    return error_response(422, "VALIDATION_ERROR", "Request validation failed", fields=fields)


def _unexpected(error: BaseException) -> JSONResponse:
    logger.error("unhandled_exception", exc_info=error)
    return error_response(500, "INTERNAL_ERROR", "Internal server error")


async def _database_error(_: Request, error: Exception) -> JSONResponse:
    if is_unstorable_text(error):
        return error_response(
            422,
            "VALIDATION_ERROR",
            "Request validation failed",
            fields=[{"loc": "body", "message": "Text must not contain NUL (\\u0000) characters"}],
        )
    if not is_database_unavailable(error):
        return _unexpected(error)
    logger.warning("database_unavailable", error=f"{type(error).__name__}: {error}")
    return error_response(503, ServiceUnavailable.code, "The database is unavailable, retry later")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # The handler answers 503 only when the database is unreachable or overloaded (refused,
    # reset, timed out, pool exhausted); any other error of these types is a 500.
    # asyncpg's own errors come untranslated from the pool's connect (too many clients, the
    # server starting up) and from the kernel's statements on the raw connection.
    for database_error in (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, asyncpg.PostgresError):
        app.add_exception_handler(database_error, _database_error)


class UnhandledErrorMiddleware:
    """Answers anything no handler took with a 500 envelope; never a traceback or SQL.

    It sits inside the request-id and telemetry middleware, so the 500 carries the request id
    and is logged and counted like every other response (Starlette's ServerErrorMiddleware
    would answer from outside them).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if response_started:  # too late for an error response; let the server close it
                raise
            await _unexpected(error)(scope, receive, send)
