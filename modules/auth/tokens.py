"""Access tokens: short-lived JWTs (HS256 with SECRET_KEY) naming the user and the session."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "modulith:access"
REQUIRED_CLAIMS = ["sub", "sid", "aud", "iat", "exp"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID


class AccessTokens:
    def __init__(self, secret: str, lifetime: timedelta) -> None:
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.lifetime,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def read(self, token: str) -> AccessClaims | None:
        """The claims of a valid token; None for anything else (bad signature, `alg: none`,
        another algorithm, wrong audience, expired, missing claims, garbage)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # pinned: the token's own header is not trusted
                audience=AUDIENCE,
                options={"require": REQUIRED_CLAIMS},
            )
            return AccessClaims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]))
        except (jwt.PyJWTError, ValueError, TypeError):
            return None

    def owner(self, token: str) -> uuid.UUID | None:
        """The user id of a valid token, without asking the database whether its session is
        still open: good enough to count requests by (rate limits), not to authorize them."""
        claims = self.read(token)
        return claims.user_id if claims else None
