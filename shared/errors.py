"""The application's error family. Services raise these; one set of handlers renders them.

Modules subclass the generic kinds with a stable UPPER_SNAKE `code`, for example
`class ItemNotFound(NotFound): code = "ITEM_NOT_FOUND"; detail = "Item not found"`.
"""

import uuid
from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    detail: ClassVar[str] = "Internal server error"
    # A refusal whose record must outlive it (a failed attempt's count, its audit entry):
    # the unit of work commits what the request wrote before the error is answered, instead
    # of rolling it back. Raised like any other error, so no handler can forget the commit.
    commits: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        self.message = detail or type(self).detail
        self.headers = headers
        # More fields of the envelope's `error` object (MFA_REQUIRED's `mfa_token`, say).
        self.extra = extra
        super().__init__(self.message)


class BadRequest(AppError):
    status_code = 400
    code = "BAD_REQUEST"
    detail = "Bad request"


class Unauthorized(AppError):
    status_code = 401
    code = "UNAUTHORIZED"
    detail = "Not authenticated"


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    detail = "Not allowed"


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    detail = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"
    detail = "Conflict"


class Gone(AppError):
    status_code = 410
    code = "GONE"
    detail = "Gone"


class PreconditionFailed(AppError):
    status_code = 412
    code = "PRECONDITION_FAILED"
    detail = "Precondition failed"


class RateLimited(AppError):
    status_code = 429
    code = "RATE_LIMITED"
    detail = "Too many requests: retry after the number of seconds in Retry-After"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    detail = "Service temporarily unavailable"


def parse_id(value: str, missing: type[NotFound]) -> uuid.UUID:
    """The UUID in a path: a malformed one is just an id nobody has, so `missing` (404), like
    an id that matches no row."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise missing from None
