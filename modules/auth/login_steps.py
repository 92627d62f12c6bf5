"""What both login routes (the password, and the second factor) do around their own check:
wait out the account's delay, count a failure, and open the session when it all succeeded.

Their refusals commit (`AppError.commits`): the audit entry and the failure count are kept
with the 4xx.
"""

import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from modules.audit.public import AuditTrail, AuditTrailDep
from modules.users.public import User, UserManager, UserManagerDep
from shared.data.db import UnitOfWork
from shared.edge.client import client_of

from .dependencies import LoginSessionsDep, LoginThrottlesDep
from .errors import LoginThrottled
from .login_sessions import LoginSessions
from .schemas import TokenPair
from .throttle import LoginThrottles


class LoginSteps:
    def __init__(
        self,
        request: Request,
        session: AsyncSession,
        login_sessions: LoginSessions,
        throttles: LoginThrottles,
        manager: UserManager,
        audit: AuditTrail,
    ) -> None:
        self.request = request
        self.session = session
        self.login_sessions = login_sessions
        self.throttles = throttles
        self.manager = manager
        self.audit = audit

    async def refuse_while_delayed(
        self, email: str, *, actor_id: uuid.UUID | None, step: str
    ) -> None:
        """Raises `429 LOGIN_THROTTLED` while the account waits out its delay."""
        wait = await self.throttles.retry_after(self.session, email)
        if wait is None:
            return
        await self.audit.record(
            "auth.login.throttled",
            actor_id=actor_id,
            details={"email": email, "step": step, "retry_after": wait},
        )
        raise LoginThrottled(headers={"Retry-After": str(wait)})

    async def count_failure(self, email: str) -> None:
        await self.throttles.record_failure(self.session, email)

    async def open_session(self, user: User, *, second_factor: str | None) -> TokenPair:
        """The login succeeded: the account's count is cleared and a session opened."""
        await self.throttles.clear(self.session, user.email)
        tokens, session_id = await self.login_sessions.open(
            self.session, user.id, client_of(self.request)
        )
        await self.audit.record(
            "auth.login.succeeded",
            actor_id=user.id,
            target_type="session",
            target_id=session_id,
            details={"second_factor": second_factor},
        )
        await self.manager.on_after_login(user, self.request)
        return tokens


async def login_steps(
    request: Request,
    session: UnitOfWork,
    login_sessions: LoginSessionsDep,
    throttles: LoginThrottlesDep,
    manager: UserManagerDep,
    audit: AuditTrailDep,
) -> LoginSteps:
    # A coroutine, not the class itself: FastAPI would build a class in its thread pool.
    return LoginSteps(request, session, login_sessions, throttles, manager, audit)


LoginStepsDep = Annotated[LoginSteps, Depends(login_steps)]
