from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.jobs.schedules import Schedule
from shared.module import Module

from .container import AuditContainer
from .personal_data import PERSONAL_DATA
from .router import AUDIT_READ, router


async def purge_old_entries(session: AsyncSession, container: Any) -> int:
    """Entries older than AUDIT_RETENTION_DAYS."""
    retention = timedelta(days=container.settings().audit_retention_days)
    purged: int = await container.audit.log().purge(session, older_than=retention)
    return purged


module = Module(
    name="audit",
    router=router,
    models="modules.audit.models",
    schedules=(Schedule("audit.purge_old_entries", "23 * * * *", purge_old_entries),),
    container=AuditContainer,
    permissions=(AUDIT_READ,),
    personal_data=PERSONAL_DATA,
)
