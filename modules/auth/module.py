from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.jobs.schedules import Schedule
from shared.module import Module

from .personal_data import PERSONAL_DATA
from .router import router

# Ended sessions are kept a day (a reused refresh token still reads as REUSED meanwhile).
PURGE_AFTER = timedelta(days=1)
# A failure count nobody added to for a day is forgotten: "consecutive" has a horizon.
THROTTLE_IDLE_HORIZON = timedelta(days=1)


async def purge_what_ended(session: AsyncSession, container: Any) -> dict[str, int]:
    """Sessions that ended a day ago, idle login throttles, expired 2FA challenges, mail
    quotas of past hours."""
    auth = container.auth
    return {
        "sessions": await auth.login_sessions().purge(session, older_than=PURGE_AFTER),
        "login_throttles": await auth.login_throttles().purge(
            session, idle_for=THROTTLE_IDLE_HORIZON
        ),
        "mfa_challenges": await auth.two_factor().purge(session),
        "mail_quotas": await auth.mail_quotas().purge(session),
    }


module = Module(
    name="auth",
    router=router,
    models="modules.auth.models",
    schedules=(Schedule("auth.purge_what_ended", "7 * * * *", purge_what_ended),),
    # Whose sessions and keys: users (their table, manager, events); audit records logins.
    depends_on=("users", "audit"),
    personal_data=PERSONAL_DATA,
)
