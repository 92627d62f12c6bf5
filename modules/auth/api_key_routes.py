"""/auth/api-keys: personal access tokens, for callers that are not a person at a login form.

Managed from a login session only (an API key cannot mint or revoke keys), and minting one
needs a recent password proof: a stolen access token alone must not be able to leave a
long-lived key behind.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from modules.audit.public import AuditTrailDep
from modules.users.public import account_of
from shared.api.auth import RecentlyAuthenticated, SessionCaller
from shared.api.error_handlers import error_responses
from shared.api.permissions import MissingPermission, PermissionCatalog
from shared.api.provided import provided
from shared.api.route import ModuleRoute
from shared.data.db import SessionDep, UnitOfWork

from .api_keys import ApiKeys
from .dependencies import AccountEmailsDep
from .schemas import ApiKeyCreate, ApiKeyList, ApiKeyRead, NewApiKey

router = APIRouter(
    prefix="/auth/api-keys", tags=["auth"], route_class=ModuleRoute
)  # joined into one by router.py
ApiKeysDep = Annotated[ApiKeys, Depends(provided("auth.api_keys"))]
CatalogDep = Annotated[PermissionCatalog, Depends(provided("permissions"))]


@router.post(
    "",
    summary="Create an API key",
    description="The key acts as the caller with the permissions both in its `scopes` and "
    "held by the caller at the time of each request. `key` is shown only in this answer. "
    "Needs a password proved within `REAUTH_WINDOW_MINUTES` in this session (`401 "
    "REAUTH_REQUIRED` otherwise); the account's address is told of the new key.",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 422),
)
async def create_api_key(
    body: ApiKeyCreate,
    caller: RecentlyAuthenticated,
    catalog: CatalogDep,
    api_keys: ApiKeysDep,
    emails: AccountEmailsDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> NewApiKey:
    scopes = catalog.declared(body.scopes)
    for scope in scopes:
        if scope not in caller.permissions:
            raise MissingPermission(scope)
    row, key = await api_keys.create(
        session,
        caller.id,
        name=body.name,
        scopes=scopes,
        lifetime=timedelta(days=body.expires_in_days),
    )
    await audit.record_on_user(
        "auth.api_key.created",
        caller.id,
        details={"id": str(row.id), "name": row.name, "scopes": row.scopes},
    )
    await emails.send_api_key_created(session, account_of(caller), row.name)
    return NewApiKey(**ApiKeyRead.model_validate(row).model_dump(), key=key)


@router.get("", summary="The caller's API keys", responses=error_responses(401, 403))
async def list_api_keys(
    caller: SessionCaller, api_keys: ApiKeysDep, session: SessionDep
) -> ApiKeyList:
    rows = await api_keys.list(session, caller.id)
    return ApiKeyList(data=[ApiKeyRead.model_validate(row) for row in rows])


@router.delete(
    "/{key_id}",
    summary="Revoke an API key",
    description="The key stops working at once.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def revoke_api_key(
    key_id: str,
    caller: SessionCaller,
    api_keys: ApiKeysDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    row = await api_keys.revoke(session, caller.id, key_id)
    await audit.record_on_user(
        "auth.api_key.revoked",
        caller.id,
        details={"id": str(row.id), "name": row.name, "scopes": row.scopes},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
