"""Security headers on every response, in one pure ASGI layer: no sniffing, no framing, no
referrer; a Content-Security-Policy (the docs pages may load from our own origin only, every
other answer nothing at all); `Cache-Control: no-store` on the API (tokens and per-user data
must not be kept by caches); HSTS in production only (a development server on plain http
must stay reachable)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..api.api_docs import DOCS_CSP, DOCS_PATHS

_EVERY_RESPONSE = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_NO_STORE = (b"cache-control", b"no-store")
# JSON and text answers are never rendered as pages: nothing may load or frame them.
_LOCKED_DOWN = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_DOCS = (b"content-security-policy", DOCS_CSP.encode())


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool, api_prefix: str = "/api/") -> None:
        self.app = app
        self.api_prefix = api_prefix
        # Built once: a response only concatenates one of these tuples.
        common = (*_EVERY_RESPONSE, _HSTS) if hsts else _EVERY_RESPONSE
        self.headers = (*common, _LOCKED_DOWN)
        self.api_headers = (*common, _LOCKED_DOWN, _NO_STORE)
        self.docs_headers = (*common, _DOCS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path.startswith(self.api_prefix)
        if api:
            extra = self.api_headers
        elif path.startswith(DOCS_PATHS):
            extra = self.docs_headers
        else:
            extra = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if api:  # no-store wins over anything a route said
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
