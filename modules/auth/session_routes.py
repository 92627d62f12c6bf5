"""/auth/sessions: the caller's login sessions, listed and ended one by one."""

from fastapi import APIRouter, Response, status

from modules.audit.public import AuditTrailDep
from shared.api.auth import SessionCaller
from shared.api.error_handlers import error_responses
from shared.api.pagination import PageCursor, PageLimit
from shared.api.route import ModuleRoute
from shared.data.db import SessionDep, UnitOfWork
from shared.errors import parse_id

from .dependencies import LoginSessionsDep
from .errors import SessionNotFound
from .schemas import SessionPage, SessionRead

router = APIRouter(
    prefix="/auth", tags=["auth"], route_class=ModuleRoute
)  # joined into one by router.py


@router.get(
    "/sessions",
    summary="The caller's live sessions",
    description="Sessions not revoked and not expired, newest first; `current` marks the one "
    "of the calling access token.",
    responses=error_responses(400, 401, 403, 422),
)
async def list_sessions(
    caller: SessionCaller,
    login_sessions: LoginSessionsDep,
    session: SessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> SessionPage:
    rows, next_cursor = await login_sessions.list_live(
        session, caller.id, limit=limit, cursor=cursor
    )
    data = [
        SessionRead(
            id=row.id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            ip=row.ip,
            user_agent=row.user_agent,
            current=row.id == caller.login_session_id,
        )
        for row in rows
    ]
    return SessionPage(data=data, next_cursor=next_cursor)


@router.delete(
    "/sessions/{session_id}",
    summary="End one of the caller's sessions",
    description="Its refresh and access tokens stop working at once; ending the caller's own "
    "session is a logout. Another user's session reads as unknown.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def delete_session(
    session_id: str,
    caller: SessionCaller,
    login_sessions: LoginSessionsDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    target = parse_id(session_id, SessionNotFound)
    if not await login_sessions.revoke_own(session, caller.id, target):
        raise SessionNotFound
    await audit.record(
        "auth.session.revoked", actor_id=caller.id, target_type="session", target_id=target
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
