"""Security headers on every response, in one pure ASGI layer: no sniffing, no framing, no
referrer; `Cache-Control: no-store` on the API (tokens and per-user data must not be kept by
caches); HSTS in production only (a development server on plain http must stay reachable)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_EVERY_RESPONSE = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool, api_prefix: str = "/api/") -> None:
        self.app = app
        self.api_prefix = api_prefix
        # Built once: a response only concatenates one of these two tuples.
        self.headers = (*_EVERY_RESPONSE, _HSTS) if hsts else _EVERY_RESPONSE
        self.api_headers = (*self.headers, _NO_STORE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith(self.api_prefix)
        extra = self.api_headers if api else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if api:  # no-store wins over anything a route said
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
