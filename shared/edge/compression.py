"""Response compression, for the clients that ask for it.

Starlette's GZipMiddleware wraps every response, compressed or not, to decide per response
(and to add `Vary: Accept-Encoding` to large ones). A client that does not accept gzip gets
every response as it is, so its requests skip the middleware altogether. What such a client
loses is the `Vary` header on large responses: the API's are `no-store`, and a cache that
keeps another one can only ever hand out the uncompressed body, which every client reads.
"""

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class CompressionMiddleware:
    def __init__(self, app: ASGIApp, minimum_size: int) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _accepts_gzip(scope):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _accepts_gzip(scope: Scope) -> bool:
    # As GZipMiddleware decides it (a substring of Accept-Encoding), without building Headers.
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            return b"gzip" in value
    return False
