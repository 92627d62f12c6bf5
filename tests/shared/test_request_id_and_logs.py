import logging
import uuid

import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI

from tests.conftest import CapturedLogs

router = APIRouter(tags=["chatty"])


@router.get("/chatty/{word}")
async def log_from_everywhere(word: str) -> dict[str, str]:
    structlog.get_logger("modules.chatty").info("structlog_line", word=word)
    logging.getLogger("some.library").warning("stdlib line about %s", word)
    return {"word": word}


@pytest.fixture
def chatty_app(app: FastAPI) -> FastAPI:
    app.include_router(router, prefix="/api/v1")
    return app


async def test_a_well_formed_incoming_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    request_id = "Edge-42.retry_1"
    response = await client.get("/health", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "incoming", ["a" * 129, "has space", "semi;colon", "ünïcode", ""], ids=repr
)
async def test_a_malformed_incoming_request_id_is_replaced_by_a_uuid(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get("/health", headers=[(b"X-Request-ID", incoming.encode())])
    assert response.headers["x-request-id"] != incoming
    uuid.UUID(response.headers["x-request-id"])


async def test_each_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/health"), await client.get("/health")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_every_line_logged_while_serving_carries_the_request_id(
    chatty_app: FastAPI, client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    response = await client.get("/api/v1/chatty/hello", headers={"X-Request-ID": "req-7"})
    assert response.status_code == 200
    [app_line] = logs.named("modules.chatty")
    [library_line] = logs.named("some.library")
    assert app_line["request_id"] == library_line["request_id"] == "req-7"
    assert library_line["event"] == "stdlib line about hello"
    assert library_line["level"] == "warning"


async def test_one_structured_access_line_per_request(
    chatty_app: FastAPI, client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    await client.get("/api/v1/chatty/hello?secret=token", headers={"X-Request-ID": "req-8"})
    [line] = logs.named("app.access")
    assert line["event"] == "request"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/chatty/{word}"
    assert line["path"] == "/api/v1/chatty/hello"  # the query string (tokens) is not logged
    assert line["status"] == 200
    assert line["request_id"] == "req-8"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "timestamp" in line
