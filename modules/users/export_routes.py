"""The caller's personal-data exports (README, "Personal data"): ask for one, see them,
download one. A login session only: API keys get 403 here."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.responses import StreamingResponse

from shared.api.auth import RecentlyAuthenticated, SessionCaller
from shared.api.error_handlers import error_responses
from shared.api.provided import provided
from shared.api.route import ModuleRoute
from shared.data.db import SessionDep, UnitOfWork
from shared.data.read_routing import ReadRouting

from .exports import DataExports
from .schemas import ExportList, ExportRead

router = APIRouter(prefix="/users/me", tags=["users"], route_class=ModuleRoute)
DataExportsDep = Annotated[DataExports, Depends(provided("users.data_exports"))]
ReadRoutingDep = Annotated[ReadRouting, Depends(provided("read_routing"))]


@router.post(
    "/export",
    summary="Ask for a copy of your data",
    description="Every module's section of what it holds about you (the account, sessions "
    "and API keys, items, the audit events naming you; never a secret), gathered by a "
    "background job. You get an e-mail when it is ready; download it then, until "
    "`expires_at` (`EXPORT_RETENTION_DAYS`). Needs a password proof within "
    "`REAUTH_WINDOW_MINUTES` (sudo mode); one pending export at a time.",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 409),
)
async def request_export(
    caller: RecentlyAuthenticated, exports: DataExportsDep, session: UnitOfWork
) -> ExportRead:
    return ExportRead.model_validate(await exports.request(session, caller.id))


@router.get(
    "/exports",
    summary="Your data exports",
    description="Newest first; an export is purged once it expires.",
    responses=error_responses(401, 403),
)
async def list_exports(caller: SessionCaller, session: SessionDep) -> ExportList:
    found = await DataExports.of_person(session, caller.id)
    return ExportList(data=[ExportRead.model_validate(export) for export in found])


@router.get(
    "/exports/{export_id}",
    summary="One of your data exports",
    responses=error_responses(401, 403, 404),
)
async def get_export(
    export_id: str, caller: SessionCaller, exports: DataExportsDep, session: SessionDep
) -> ExportRead:
    return ExportRead.model_validate(await exports.get(session, caller.id, export_id))


@router.get(
    "/exports/{export_id}/download",
    summary="Download one of your data exports",
    description='The archive, JSON: `{"format": "modulith-export/1", "user_id", '
    '"generated_at", "modules": {<module>: {…}}}`. `409 EXPORT_NOT_READY` while it is being '
    "prepared, `410 EXPORT_EXPIRED` after `expires_at`.",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "The archive, as an attachment",
        },
        **error_responses(401, 403, 404, 409, 410),
    },
)
async def download_export(
    export_id: str,
    caller: SessionCaller,
    exports: DataExportsDep,
    session: SessionDep,
    routing: ReadRoutingDep,
) -> StreamingResponse:
    export = await exports.get(session, caller.id, export_id)
    exports.downloadable(export)
    pieces = await exports.pieces(session, export.id)
    filename = f"modulith-export-{export.id}.json"
    return StreamingResponse(
        _streamed(exports, routing, export.id, pieces),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _streamed(
    exports: DataExports, routing: ReadRouting, export_id: uuid.UUID, pieces: list[int]
) -> AsyncIterator[bytes]:
    """Piece by piece, each read in a short session of its own: the request's session has
    closed before the body is sent, and a connection is never held while the client reads."""
    for seq in pieces:
        async with routing.primary_session() as session:
            content = await exports.piece(session, export_id, seq)
        yield content
