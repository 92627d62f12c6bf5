"""Refuse request bodies over MAX_BODY_BYTES with 413, without reading them whole.

FastAPI's own `max_body_size` answers in plain text from outside the user middleware (no
envelope, no X-Request-ID), so the limit lives here instead.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..api.error_handlers import error_response


class PayloadTooLarge(HTTPException):
    # An HTTPException on purpose: FastAPI's body parser re-raises those unchanged, where any
    # other exception raised while reading the body would become a 400.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the limit of {limit} bytes")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.limit:
            # Answer before a byte of the body is read.
            error = PayloadTooLarge(self.limit)
            response = error_response(413, "PAYLOAD_TOO_LARGE", str(error.detail))
            await response(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            # Chunked bodies declare no length: count as they arrive, stop past the limit.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise PayloadTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)
