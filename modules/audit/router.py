import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shared.api.auth import Caller
from shared.api.error_handlers import error_responses
from shared.api.pagination import PageCursor, PageLimit
from shared.api.permissions import Permission, permitted
from shared.api.provided import provided
from shared.api.route import ModuleRoute
from shared.data.db import SessionDep

from .schemas import AuditEventRead, AuditPage
from .service import AuditFilter, AuditLog

router = APIRouter(prefix="/audit", tags=["audit"], route_class=ModuleRoute)
AuditLogDep = Annotated[AuditLog, Depends(provided("audit.log"))]

AUDIT_READ = Permission("audit:read", "Read the audit trail (GET /audit)")


@router.get(
    "",
    summary="The audit trail",
    description="Newest first. Filters combine; a cursor only continues the filter it came "
    "from (`INVALID_CURSOR` otherwise). Entries appear within seconds of the action.",
    responses=error_responses(400, 401, 403, 422),
)
async def list_audit_events(
    _: Annotated[Caller, permitted(AUDIT_READ)],
    log: AuditLogDep,
    session: SessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
    actor_id: Annotated[uuid.UUID | None, Query(description="Who acted.")] = None,
    target_id: Annotated[uuid.UUID | None, Query(description="The user or session.")] = None,
    action: Annotated[str | None, Query(max_length=64, examples=["auth.login.failed"])] = None,
) -> AuditPage:
    where = AuditFilter(actor_id=actor_id, target_id=target_id, action=action)
    rows, next_cursor = await log.list(session, where, limit=limit, cursor=cursor)
    return AuditPage(data=[AuditEventRead.model_validate(r) for r in rows], next_cursor=next_cursor)
