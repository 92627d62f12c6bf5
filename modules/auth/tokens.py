"""Access tokens: short-lived JWTs (HS256 with SECRET_KEY) naming the user and the session."""

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "modulith:access"
REQUIRED_CLAIMS = ["sub", "sid", "aud", "iat", "exp"]
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID


class AccessTokens:
    def __init__(self, secret: str, lifetime: timedelta) -> None:
        self._secret = secret
        self.lifetime = lifetime
        # Verifying a token (HMAC, base64, JSON, claim checks) is the costliest step of
        # authenticating a request after the query; a client sends the same token many times.
        self._verified: dict[str, tuple[AccessClaims, float]] = {}
        self._lock = threading.Lock()

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
        verified = self._verified.get(token)
        if verified is not None:
            claims, expires_at = verified
            if time.time() < expires_at:
                return claims
            with self._lock:
                self._verified.pop(token, None)
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # pinned: the token's own header is not trusted
                audience=AUDIENCE,
                options={"require": REQUIRED_CLAIMS},
            )
            claims = AccessClaims(uuid.UUID(payload["sub"]), uuid.UUID(payload["sid"]))
            expires_at = float(payload["exp"])
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        self._remember(token, claims, expires_at)
        return claims

    def _remember(self, token: str, claims: AccessClaims, expires_at: float) -> None:
        # Only verified tokens, until their own expiry: the same string verifies the same
        # way every time. Failures are never remembered (a token "not valid yet" because of
        # clock skew becomes valid). Oldest first out, so the memory stays bounded.
        with self._lock:  # the rate limiter reads tokens from worker threads too
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (claims, expires_at)

    def owner(self, token: str) -> uuid.UUID | None:
        """The user id of a valid token, without asking the database whether its session is
        still open: good enough to count requests by (rate limits), not to authorize them."""
        claims = self.read(token)
        return claims.user_id if claims else None
