"""Who is on the other end of a request, as recorded with login sessions and audit entries.

The address is the one the rate limits count by: the peer, or the `X-Forwarded-For` client
when the peer is one of TRUSTED_PROXIES (uvicorn's ProxyHeadersMiddleware has rewritten it
before any route runs). The user agent is the client's own claim, cut to a bounded length.
"""

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from .request_id import request_id_var

USER_AGENT_MAX_LENGTH = 512
ADDRESS_MAX_LENGTH = 64  # an IPv6 address with a zone fits; a Unix socket path may not


@dataclass(frozen=True, slots=True)
class Client:
    ip: str | None
    user_agent: str | None
    request_id: str | None


def client_address(request: HTTPConnection) -> str | None:
    """The client's address: the rate limits count by it, sessions and the audit record it."""
    if request.client is None or not request.client.host:
        return None
    return request.client.host[:ADDRESS_MAX_LENGTH]


def bearer_token(request: HTTPConnection) -> str | None:
    """The token of the request's `Authorization: Bearer …` header, not yet checked."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def client_of(request: HTTPConnection) -> Client:
    user_agent = request.headers.get("user-agent")
    return Client(
        ip=client_address(request),
        user_agent=user_agent[:USER_AGENT_MAX_LENGTH] if user_agent else None,
        request_id=request_id_var.get(),
    )
