"""The first superuser: from FIRST_SUPERUSER_EMAIL/PASSWORD at start-up, and `make superuser`.

Idempotent and safe when several workers start at once: a transaction-scoped advisory lock
serializes them, and an existing account is never overwritten.
"""

from collections.abc import Callable

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from .database import UserDatabase
from .manager import UserManager
from .schemas import UserCreate

logger = structlog.get_logger(__name__)
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('modulith.first_superuser'))"


async def ensure_superuser(
    session_factory: async_sessionmaker[AsyncSession],
    make_manager: Callable[[UserDatabase], UserManager],
    *,
    email: str,
    password: str,
) -> bool:
    """Create a verified superuser unless the e-mail is taken; True if one was created."""
    async with session_factory() as session, session.begin():
        await (await session.connection()).execute(text(_LOCK))
        user_db = UserDatabase(session)
        if await user_db.get_by_email(email) is not None:
            logger.info("superuser_exists", email=email)
            return False
        account = UserCreate(email=email, password=password, is_superuser=True, is_verified=True)
        await make_manager(user_db).create(account, safe=False)
    logger.info("superuser_created", email=email)
    return True
