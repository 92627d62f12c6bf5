import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.jobs.messages import Handlers
from shared.jobs.schedules import Schedule
from shared.module import Module

from .common_passwords import common_passwords
from .exports import BuildExport
from .first_superuser import ensure_superuser
from .personal_data import PERSONAL_DATA
from .router import router
from .user_routes import USERS_READ, USERS_WRITE


@asynccontextmanager
async def lifespan(container: Any) -> AsyncIterator[None]:
    await asyncio.to_thread(common_passwords)  # the password policy's list, loaded once
    settings = container.settings()
    if settings.first_superuser_email and settings.first_superuser_password:
        await ensure_superuser(
            container.session_factory(),
            container.users.user_manager,
            email=settings.first_superuser_email,
            password=settings.first_superuser_password.get_secret_value(),
        )
    yield


def export_jobs(container: Any) -> Handlers:
    """The export job, done by the users container's service (it holds the exporters)."""
    return {BuildExport: container.users.data_exports().build}


async def purge_expired_exports(session: AsyncSession, container: Any) -> int:
    """Data exports past EXPORT_RETENTION_DAYS, with their archives."""
    purged: int = await container.users.data_exports().purge(session)
    return purged


module = Module(
    name="users",
    router=router,
    models="modules.users.models",
    lifespan=lifespan,
    permissions=(USERS_READ, USERS_WRITE),
    schedules=(Schedule("users.purge_expired_exports", "53 * * * *", purge_expired_exports),),
    service_handlers=export_jobs,
    personal_data=PERSONAL_DATA,
    # auth fills its ports (sessions revoked, account e-mails, 2FA); audit records changes.
    depends_on=("auth", "audit"),
)
