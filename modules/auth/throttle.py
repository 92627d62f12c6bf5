"""Per-account login throttling, in PostgreSQL so every worker and replica shares it.

Every check of an account's password or second factor counts: logins (both steps) and the
re-authentication checks (`PATCH /users/me`, `/2fa/disable`, `/auth/reauth`). Attempts are
counted per normalized e-mail whether or not an account has it: the answers and the work done
are the same either way. After LOGIN_FAILURES_BEFORE_DELAY consecutive failures, every attempt
on the account, from any address and even with the right password, waits: 1 minute, then
twice as long after each further failure, up to LOGIN_DELAY_MAX_MINUTES. A successful login,
re-authentication or password reset ends it.

An attempt is counted as a failure before it is checked, and its count is committed at once
(`begin_attempt`); a success then clears the count. So of a burst of simultaneous attempts at
most LOGIN_FAILURES_BEFORE_DELAY are checked, whatever the number of workers: the others find
the account delayed. Reading the count, checking, then recording a failure let every attempt
of a burst through before the first failure was recorded.
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

    async def begin_attempt(self, session: AsyncSession, email: str) -> int | None:
        """Counts an attempt on the account as a failure, before it is checked, and commits
        the request's transaction so far, so concurrent attempts see the count. Returns the
        seconds to wait instead when the account is delayed (the attempt is then not counted
        and must not be checked)."""
        failures = col(LoginThrottle.failures) + 1
        doublings = sa.func.least(failures - self.failures_before_delay, _MAX_DOUBLINGS)
        minutes = sa.func.least(sa.func.power(2, doublings), self.max_delay_minutes)
        new_row = insert(LoginThrottle).values(
            key=throttle_key(email),
            failures=1,
            last_failure_at=sa.func.now(),
            blocked_until=self._first_block(),
        )
        statement = new_row.on_conflict_do_update(
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
            # A delayed account's attempts are refused, not counted.
            where=sa.or_(
                col(LoginThrottle.blocked_until).is_(None),
                col(LoginThrottle.blocked_until) <= sa.func.now(),
            ),
        ).returning(col(LoginThrottle.failures))
        counted = (await session.exec(statement)).first()
        if counted is None:
            return await self._retry_after(session, email)
        await session.commit()
        return None

    async def withdraw_attempt(self, session: AsyncSession, email: str) -> None:
        """Takes back the count of an attempt that `begin_attempt` counted and that proved the
        password after all, without completing a login (a second factor or a verified
        address is still missing): a right password is not a failure."""
        withdrawn = col(LoginThrottle.failures) - 1
        await session.exec(
            sa.update(LoginThrottle)
            .where(col(LoginThrottle.key) == throttle_key(email))
            .values(
                failures=sa.func.greatest(withdrawn, 0),
                blocked_until=sa.case(
                    (withdrawn >= self.failures_before_delay, col(LoginThrottle.blocked_until)),
                    else_=None,
                ),
            )
        )

    async def _retry_after(self, session: AsyncSession, email: str) -> int:
        statement = select(LoginThrottle.blocked_until).where(
            col(LoginThrottle.key) == throttle_key(email)
        )
        blocked_until = (await session.exec(statement)).first()
        remaining = (blocked_until - utcnow()).total_seconds() if blocked_until else 0
        return max(1, math.ceil(remaining))

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
