import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog

from shared.module import Module

from .router import router

PURGE_EVERY = timedelta(hours=1)
# Ended sessions are kept a day (a reused refresh token still reads as REUSED meanwhile).
PURGE_AFTER = timedelta(days=1)
logger = structlog.get_logger(__name__)


async def _purge_ended_sessions(container: Any) -> None:
    """Delete ended sessions every hour (each worker does it; the DELETE is idempotent)."""
    while True:
        await asyncio.sleep(PURGE_EVERY.total_seconds())
        try:
            async with container.session_factory()() as session, session.begin():
                purged = await container.auth.sessions().purge(session, older_than=PURGE_AFTER)
            logger.info("sessions_purged", count=purged)
        except Exception as error:  # a database blip must not end the loop
            logger.warning("sessions_purge_failed", error=repr(error))


@asynccontextmanager
async def lifespan(container: Any) -> AsyncIterator[None]:
    purge = asyncio.create_task(_purge_ended_sessions(container))
    yield
    purge.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await purge


module = Module(
    name="auth",
    router=router,
    wire=("modules.auth.router",),
    models="modules.auth.models",
    lifespan=lifespan,
)
