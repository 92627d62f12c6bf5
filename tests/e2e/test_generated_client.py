"""A Python client generated from the live schema (openapi-python-client, no hand edits)
drives the real server: register, login, create, list across a cursor, get with its ETag and
If-None-Match, PATCH with If-Match and with a stale one, an oversized body. Every answer is a
status the schema documents (the client raises on any other) and every error parses as the
envelope model."""

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.accounts import PASSWORD, new_email
from tests.e2e.server import RunningServer

pytestmark = pytest.mark.e2e
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "modulith_client"
ITEMS = 3
PAGE = 2


@pytest.fixture
def generated(server: RunningServer, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package, generated from the server's /openapi.json into tmp_path."""
    schema = tmp_path / "openapi.json"
    schema.write_bytes(httpx.get(f"{server.base_url}/openapi.json").content)
    config = tmp_path / "generator.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run over the generated code
    command = [str(GENERATOR), "generate", "--path", str(schema), "--meta", "none"]
    command += ["--output-path", str(tmp_path / PACKAGE), "--config", str(config)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout  # every part of the schema understood
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def part(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


async def test_a_generated_client_runs_the_whole_flow_without_hand_edits(
    server: RunningServer, generated: ModuleType
) -> None:
    models = part(generated, "models")
    register = part(generated, "api.auth.auth_register")
    login = part(generated, "api.auth.auth_login")
    create = part(generated, "api.items.items_create_item")
    listing = part(generated, "api.items.items_list_items")
    get = part(generated, "api.items.items_get_item")
    update = part(generated, "api.items.items_update_item")

    public = generated.Client(base_url=server.base_url, raise_on_unexpected_status=True)
    email = new_email("generated")
    registered = await register.asyncio_detailed(
        client=public, body=models.UserCreate(email=email, password=PASSWORD)
    )
    assert registered.status_code == 201
    assert isinstance(registered.parsed, models.UserRead)
    logged_in = await login.asyncio_detailed(
        client=public, body=models.BodyAuthLogin(username=email, password=PASSWORD)
    )
    assert isinstance(logged_in.parsed, models.TokenPair)
    client = generated.AuthenticatedClient(
        base_url=server.base_url,
        token=logged_in.parsed.access_token,
        raise_on_unexpected_status=True,
    )

    for number in range(ITEMS):
        body = models.ItemCreate(title=f"Generated {number}", price="2.50", tags=["gen"])
        created = await create.asyncio_detailed(client=client, body=body)
        assert created.status_code == 201
        assert isinstance(created.parsed, models.ItemRead)

    seen: list[str] = []
    cursor = None
    for _ in range(ITEMS):  # bounded: at most one page per item
        page = await listing.asyncio_detailed(client=client, limit=PAGE, cursor=cursor)
        assert isinstance(page.parsed, models.ItemPage)
        seen += [str(item.id) for item in page.parsed.data]
        cursor = page.parsed.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == ITEMS

    item_id = seen[0]
    fetched = await get.asyncio_detailed(item_id, client=client)
    etag = fetched.headers["etag"]
    assert isinstance(fetched.parsed, models.ItemRead)
    not_modified = await get.asyncio_detailed(item_id, client=client, if_none_match=etag)
    assert not_modified.status_code == 304

    changed = await update.asyncio_detailed(
        item_id, client=client, body=models.ItemUpdate(title="Renamed"), if_match=etag
    )
    assert isinstance(changed.parsed, models.ItemRead)
    assert changed.parsed.title == "Renamed"
    stale = await update.asyncio_detailed(
        item_id, client=client, body=models.ItemUpdate(title="Again"), if_match=etag
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.ErrorEnvelope)
    assert stale.parsed.error.code == "PRECONDITION_FAILED"

    oversized = models.ItemCreate(title="Big", price="1.00", description="x" * 1_100_000)
    too_large = await create.asyncio_detailed(client=client, body=oversized)
    assert too_large.status_code == 413
    assert isinstance(too_large.parsed, models.ErrorEnvelope)
    assert too_large.parsed.error.code == "PAYLOAD_TOO_LARGE"
    assert too_large.parsed.error.request_id == too_large.headers["x-request-id"]

    missing = await get.asyncio_detailed(str(uuid.uuid4()), client=client)
    assert isinstance(missing.parsed, models.ErrorEnvelope)
    assert missing.parsed.error.code == "ITEM_NOT_FOUND"
    for opened in (public, client):
        await opened.get_async_httpx_client().aclose()


async def test_a_generated_client_runs_an_items_flow_with_an_api_key(
    server: RunningServer, generated: ModuleType
) -> None:
    """A key is minted through the client in a login session, then used as the client's token
    for items, within its scopes: a write outside them is a 403 the schema documents."""
    models = part(generated, "models")
    register = part(generated, "api.auth.auth_register")
    login = part(generated, "api.auth.auth_login")
    create_key = part(generated, "api.auth.auth_create_api_key")
    create = part(generated, "api.items.items_create_item")
    listing = part(generated, "api.items.items_list_items")
    delete = part(generated, "api.items.items_delete_item")

    public = generated.Client(base_url=server.base_url, raise_on_unexpected_status=True)
    email = new_email("generated-key")
    await register.asyncio_detailed(
        client=public, body=models.UserCreate(email=email, password=PASSWORD)
    )
    logged_in = await login.asyncio_detailed(
        client=public, body=models.BodyAuthLogin(username=email, password=PASSWORD)
    )
    session = generated.AuthenticatedClient(
        base_url=server.base_url,
        token=logged_in.parsed.access_token,
        raise_on_unexpected_status=True,
    )
    keys = {}
    for name, scopes in (("writer", ["items:read", "items:write"]), ("reader", ["items:read"])):
        minted = await create_key.asyncio_detailed(
            client=session, body=models.ApiKeyCreate(name=name, scopes=scopes, expires_in_days=1)
        )
        assert minted.status_code == 201
        assert isinstance(minted.parsed, models.NewApiKey)
        keys[name] = generated.AuthenticatedClient(
            base_url=server.base_url, token=minted.parsed.key, raise_on_unexpected_status=True
        )

    body = models.ItemCreate(title="By key", price="1.00")
    created = await create.asyncio_detailed(client=keys["writer"], body=body)
    assert isinstance(created.parsed, models.ItemRead)
    page = await listing.asyncio_detailed(client=keys["reader"])
    assert isinstance(page.parsed, models.ItemPage)
    assert [item.title for item in page.parsed.data] == ["By key"]
    refused = await delete.asyncio_detailed(str(created.parsed.id), client=keys["reader"])
    assert refused.status_code == 403
    assert isinstance(refused.parsed, models.ErrorEnvelope)
    assert "items:write" in refused.parsed.error.detail
    deleted = await delete.asyncio_detailed(str(created.parsed.id), client=keys["writer"])
    assert deleted.status_code == 204
    for opened in (public, session, *keys.values()):
        await opened.get_async_httpx_client().aclose()
