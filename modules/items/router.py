import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status

from shared.api.auth import Caller
from shared.api.error_handlers import error_responses
from shared.api.pagination import PageCursor, PageLimit
from shared.api.permissions import Permission, permitted
from shared.api.provided import provided
from shared.api.route import ModuleRoute
from shared.data.db import SessionDep, UnitOfWork

from .schemas import ItemCreate, ItemPage, ItemRead, ItemUpdate, Sort
from .service import ItemsService, ListFilters

router = APIRouter(prefix="/items", tags=["items"], route_class=ModuleRoute)

ETAG = {
    "ETag": {"description": 'The item\'s version, quoted: `"3"`.', "schema": {"type": "string"}}
}
LOCATION = {"Location": {"description": "The new item's URL.", "schema": {"type": "string"}}}


ItemsServiceDep = Annotated[ItemsService, Depends(provided("items.service"))]

# Every active user holds both (members=True); ownership still applies on top: a user reaches
# only their own items, a superuser every item.
ITEMS_READ = Permission("items:read", "Read items", members=True)
ITEMS_WRITE = Permission("items:write", "Create, change and delete items", members=True)
ItemsReader = Annotated[Caller, permitted(ITEMS_READ)]
ItemsWriter = Annotated[Caller, permitted(ITEMS_WRITE)]


NO_VERSION = -1  # matches no item: the update is refused with 412
MAX_VERSION = 2**31 - 1  # the column is a 32-bit integer


def _expected_version(if_match: str | None) -> int | None:
    """The version an If-Match names; None for no header or `*` (any version)."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit()) or int(tag) > MAX_VERSION:
        return NO_VERSION
    return int(tag)


def _item_response(item: ItemRead, status_code: int = 200) -> Response:
    """One item, with its version as ETag (and its URL as Location when just created),
    serialized once, by pydantic."""
    headers = {"ETag": f'"{item.version}"'}
    if status_code == status.HTTP_201_CREATED:
        headers["Location"] = f"/api/v1/items/{item.id}"
    return Response(
        item.model_dump_json(), status_code, headers=headers, media_type="application/json"
    )


@router.post(
    "",
    summary="Create an item",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    description="With an `Idempotency-Key`, replaying the same body within 24 h returns the "
    "first response again and creates nothing; the same key with another body is 409.",
    responses={
        201: {"headers": ETAG | LOCATION, "description": "Created"},
        **error_responses(401, 403, 409, 422),
    },
)
async def create_item(
    body: ItemCreate,
    caller: ItemsWriter,
    service: ItemsServiceDep,
    session: UnitOfWork,
    idempotency_key: Annotated[
        str | None, Header(max_length=255, description="Makes retries of this create safe.")
    ] = None,
) -> Response:
    if idempotency_key is None:
        return _item_response(await service.create(session, caller, body), 201)
    return _item_response(await service.create_once(session, caller, body, idempotency_key), 201)


@router.get(
    "",
    summary="List items",
    description="Keyset pagination (stable while items are added or removed). Users see their "
    "own items; superusers see all and may filter by `owner_id`. `q` matches title or "
    "description, case-insensitively and literally.",
    responses=error_responses(400, 401, 403, 422),
)
async def list_items(
    caller: ItemsReader,
    service: ItemsServiceDep,
    session: SessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=30)] = None,
    sort: Sort = "-created_at",
    owner_id: uuid.UUID | None = None,
) -> ItemPage:
    filters = ListFilters(q=q, tag=tag, owner_id=owner_id)
    items, next_cursor = await service.list(
        session, caller, sort=sort, limit=limit, cursor=cursor, filters=filters
    )
    return ItemPage(data=items, next_cursor=next_cursor)


def _names_version(if_none_match: str, version: int) -> bool:
    """True when an If-None-Match list names `version` (weak comparison, RFC 9110) or is `*`."""
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/").strip('"') == str(version):
            return True
    return False


@router.get(
    "/{item_id}",
    summary="Get an item",
    description="With `If-None-Match` naming the current version (`*`: any), `304` with the "
    "`ETag` and no body: the copy the client holds is current.",
    response_model=ItemRead,
    responses={
        200: {"headers": ETAG, "description": "The item"},
        304: {"headers": ETAG, "description": "Not modified: `If-None-Match` names its version"},
        **error_responses(401, 403, 404),
    },
)
async def get_item(
    item_id: str,
    caller: ItemsReader,
    service: ItemsServiceDep,
    session: SessionDep,
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            max_length=1024,
            description='ETags the client holds, e.g. `"3"` (a list, `W/` tags or `*`).',
        ),
    ] = None,
) -> Response:
    item = await service.get(session, caller, item_id)
    if if_none_match is not None and _names_version(if_none_match, item.version):
        return Response(
            status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": f'"{item.version}"'}
        )
    return _item_response(item)


@router.patch(
    "/{item_id}",
    summary="Update an item",
    response_model=ItemRead,
    description="A partial update; `version` goes up by one. With `If-Match`, the update is "
    "refused (412) unless the item is still at that version.",
    responses={
        200: {"headers": ETAG, "description": "The updated item"},
        **error_responses(401, 403, 404, 412, 422),
    },
)
async def update_item(
    item_id: str,
    body: ItemUpdate,
    caller: ItemsWriter,
    service: ItemsServiceDep,
    session: UnitOfWork,
    if_match: Annotated[
        str | None, Header(description='The ETag last seen, e.g. `"3"`.', max_length=64)
    ] = None,
) -> Response:
    item = await service.update(
        session, caller, item_id, body, expected_version=_expected_version(if_match)
    )
    return _item_response(item)


@router.delete(
    "/{item_id}",
    summary="Delete an item",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def delete_item(
    item_id: str, caller: ItemsWriter, service: ItemsServiceDep, session: UnitOfWork
) -> Response:
    await service.delete(session, caller, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
