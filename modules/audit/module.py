from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from shared.module import Module
from shared.periodic import running_every

from .container import AuditContainer
from .events import Audited
from .router import router
from .service import store_audit_entry


@asynccontextmanager
async def lifespan(container: Any) -> AsyncIterator[None]:
    retention = timedelta(days=container.settings().audit_retention_days)

    async def purge_old_entries() -> int:
        async with container.session_factory()() as session, session.begin():
            purged: int = await container.audit.log().purge(session, older_than=retention)
        return purged

    async with running_every(timedelta(hours=1), "purge_audit_events", purge_old_entries):
        yield


module = Module(
    name="audit",
    router=router,
    models="modules.audit.models",
    lifespan=lifespan,
    handlers={Audited: store_audit_entry},
    container=AuditContainer,
)
