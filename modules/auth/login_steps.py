"""What both login routes (the password, and the second factor) do around their own check:
count the attempt (or wait out the account's delay), and open the session when it succeeded.

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

    async def begin_attempt(
        self, email: str, account: User | None, *, step: str, actor_id: uuid.UUID | None
    ) -> None:
        """Counts a check of the account's password or code before it is made (committed at
        once); raises `429 LOGIN_THROTTLED` while the account waits out its delay. `account`
        is the e-mail's account, if there is one: the audit entry names it."""
        wait = await self.throttles.begin_attempt(self.session, email)
        if wait is None:
            return
        await self.audit.record(
            "auth.login.throttled",
            actor_id=actor_id,
            target_type="user" if account else None,
            target_id=account.id if account else None,
            details={"email": email, "step": step, "retry_after": wait},
        )
        raise LoginThrottled(headers={"Retry-After": str(wait)})

    async def password_was_right(self, email: str) -> None:
        """The password step succeeded but the login is not complete: its count goes."""
        await self.throttles.withdraw_attempt(self.session, email)

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
