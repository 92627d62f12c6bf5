"""Per-account login throttling, in PostgreSQL so every worker and replica shares it.

Failures are counted per normalized e-mail whether or not an account has it: the answers and
the work done (one look-up, the password check, one upsert) are the same either way. After
LOGIN_FAILURES_BEFORE_DELAY consecutive failures, every attempt on the account, from any
address and even with the right password, waits: 1 minute, then twice as long after each
further failure, up to LOGIN_DELAY_MAX_MINUTES. A successful login or a password reset ends it.
"""

import hashlib
import math
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.data.db import utcnow

from .models import LoginThrottle

# 2**20 minutes is years: past it the cap applies anyway, and power() cannot overflow.
_MAX_DOUBLINGS = 20


def _minutes(minutes: object) -> sa.ColumnElement[Any]:
    # make_interval's `mins` is an integer; its `secs` takes a fraction.
    return sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.cast(minutes, sa.Float) * 60)


def throttle_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class LoginThrottles:
    def __init__(self, failures_before_delay: int, max_delay: timedelta) -> None:
        self.failures_before_delay = failures_before_delay
        self.max_delay_minutes = max_delay.total_seconds() / 60

    async def retry_after(self, session: AsyncSession, email: str) -> int | None:
        """Seconds until the account may try again, or None when it may now."""
        statement = select(LoginThrottle.blocked_until).where(
            col(LoginThrottle.key) == throttle_key(email)
        )
        blocked_until = (await session.exec(statement)).first()
        if blocked_until is None:
            return None
        remaining = (blocked_until - utcnow()).total_seconds()
        return math.ceil(remaining) if remaining > 0 else None

    async def record_failure(self, session: AsyncSession, email: str) -> None:
        """One more consecutive failure, counted atomically: concurrent failures each count."""
        failures = col(LoginThrottle.failures) + 1
        doublings = sa.func.least(failures - self.failures_before_delay, _MAX_DOUBLINGS)
        minutes = sa.func.least(sa.func.power(2, doublings), self.max_delay_minutes)
        statement = insert(LoginThrottle).values(
            key=throttle_key(email),
            failures=1,
            last_failure_at=sa.func.now(),
            blocked_until=self._first_block(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[col(LoginThrottle.key)],
            set_={
                "failures": failures,
                "last_failure_at": sa.func.now(),
                "blocked_until": sa.case(
                    (
                        failures >= self.failures_before_delay,
                        sa.func.now() + _minutes(minutes),
                    ),
                    else_=None,
                ),
            },
        )
        await session.exec(statement)

    def _first_block(self) -> sa.ColumnElement[Any] | None:
        # A first failure blocks at once only when a single failure is allowed.
        if self.failures_before_delay > 1:
            return None
        return sa.func.now() + _minutes(min(1.0, self.max_delay_minutes))

    async def clear(self, session: AsyncSession, email: str) -> None:
        await session.exec(
            sa.delete(LoginThrottle).where(col(LoginThrottle.key) == throttle_key(email))
        )

    async def purge(self, session: AsyncSession, *, idle_for: timedelta) -> int:
        """Forget counts whose last failure is `idle_for` old and that block nothing now."""
        cutoff = utcnow() - idle_for
        result = await session.exec(
            sa.delete(LoginThrottle).where(
                col(LoginThrottle.last_failure_at) < cutoff,
                sa.or_(
                    col(LoginThrottle.blocked_until).is_(None),
                    col(LoginThrottle.blocked_until) < sa.func.now(),
                ),
            )
        )
        return int(result.rowcount)
