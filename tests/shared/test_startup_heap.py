"""shared/serving/heap.py: a process uvicorn serves sets its start-up heap aside from the
garbage collector; an app started any other way (every other test) does not."""

import asyncio
import gc
import socket
from collections.abc import Iterator

import pytest
import uvicorn

from shared.settings import Settings
from tests.conftest import build_app
from tests.network import closed_port

START_TIMEOUT_SECONDS = 30


@pytest.fixture
def unfrozen() -> Iterator[None]:
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()  # the rest of the suite collects as before


class _Server(uvicorn.Server):
    """uvicorn's server, telling when its start-up is over."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.up.set()


async def test_a_served_app_freezes_its_start_up_heap(settings: Settings, unfrozen: None) -> None:
    config = uvicorn.Config(build_app(settings), host="127.0.0.1", port=closed_port())
    config.log_config = None  # uvicorn leaves the suite's logging as it is
    server = _Server(config)
    serving = asyncio.create_task(server.serve())  # this thread: uvicorn takes the signals
    up = asyncio.create_task(server.up.wait())
    await asyncio.wait({serving, up}, timeout=START_TIMEOUT_SECONDS, return_when="FIRST_COMPLETED")
    frozen = gc.get_freeze_count()
    server.should_exit = True
    up.cancel()
    await serving
    assert server.started
    assert frozen > 10_000  # the app, its modules and the libraries, as built at start-up


async def test_an_app_not_served_by_uvicorn_freezes_nothing(
    settings: Settings, unfrozen: None
) -> None:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
