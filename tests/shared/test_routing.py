"""ModuleRouter: a module's routes are skipped in one test by a request for another module,
and still matched exactly by their own."""

import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import Match
from starlette.types import Scope

from shared.routing import ModuleRouter
from tests.conftest import request_once

things = ModuleRouter(prefix="/things")


@things.get("/{thing_id}")
async def get_thing(thing_id: int) -> dict[str, int]:
    return {"id": thing_id}


def app_with_things() -> FastAPI:
    app = FastAPI()
    app.include_router(things, prefix="/api/v1")
    return app


async def test_a_request_for_another_module_never_reaches_this_modules_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    others = APIRouter(prefix="/others")
    others.add_api_route("/{thing_id}", get_thing)
    app = app_with_things()
    app.include_router(others, prefix="/api/v1")
    tried: list[str] = []
    route = things.routes[0]
    original = route.matches

    def counting(scope: Scope) -> tuple[Match, Scope]:
        tried.append(scope["path"])
        return original(scope)

    monkeypatch.setattr(route, "matches", counting)
    assert (await request_once(app, "GET", "/api/v1/others/3")).json() == {"id": 3}
    assert tried == []  # a plain APIRouter would have tried its route first
    assert (await request_once(app, "GET", "/api/v1/things/4")).json() == {"id": 4}
    assert set(tried) == {"/api/v1/things/4"}  # (FastAPI matches the chosen route twice)


async def test_the_modules_own_routes_still_match_exactly() -> None:
    app = app_with_things()
    assert (await request_once(app, "GET", "/api/v1/things/7")).json() == {"id": 7}
    # The prefix elsewhere in the path passes the test, then matches no route.
    assert (await request_once(app, "GET", "/api/v1/other/things/7")).status_code == 404
    assert (await request_once(app, "GET", "/api/v1/things/seven")).status_code == 422
