import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from shared.module import Module

from .common_passwords import common_passwords
from .first_superuser import ensure_superuser
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


module = Module(
    name="users",
    router=router,
    models="modules.users.models",
    lifespan=lifespan,
    permissions=(USERS_READ, USERS_WRITE),
    # auth fills its ports (sessions revoked, account e-mails, 2FA); audit records changes.
    depends_on=("auth", "audit"),
)
