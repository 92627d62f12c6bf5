from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.jobs.schedules import Schedule
from shared.module import Module

from .container import AuditContainer
from .events import Audited
from .router import router
from .service import store_audit_entry


async def purge_old_entries(session: AsyncSession, container: Any) -> int:
    """Entries older than AUDIT_RETENTION_DAYS."""
    retention = timedelta(days=container.settings().audit_retention_days)
    purged: int = await container.audit.log().purge(session, older_than=retention)
    return purged


module = Module(
    name="audit",
    router=router,
    models="modules.audit.models",
    handlers={Audited: store_audit_entry},
    schedules=(Schedule("audit.purge_old_entries", "23 * * * *", purge_old_entries),),
    container=AuditContainer,
)
