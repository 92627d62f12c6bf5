from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from shared.module import Module
from shared.periodic import running_every

from .router import router

# Ended sessions are kept a day (a reused refresh token still reads as REUSED meanwhile).
PURGE_AFTER = timedelta(days=1)
# A failure count nobody added to for a day is forgotten: "consecutive" has a horizon.
THROTTLE_IDLE_HORIZON = timedelta(days=1)


@asynccontextmanager
async def lifespan(container: Any) -> AsyncIterator[None]:
    async def purge_what_ended() -> dict[str, int]:
        auth = container.auth
        async with container.session_factory()() as session, session.begin():
            return {
                "sessions": await auth.login_sessions().purge(session, older_than=PURGE_AFTER),
                "login_throttles": await auth.login_throttles().purge(
                    session, idle_for=THROTTLE_IDLE_HORIZON
                ),
                "mfa_challenges": await auth.two_factor().purge(session),
            }

    async with running_every(timedelta(hours=1), "auth_housekeeping", purge_what_ended):
        yield


module = Module(
    name="auth",
    router=router,
    models="modules.auth.models",
    lifespan=lifespan,
)
