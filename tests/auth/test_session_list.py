"""GET and DELETE /auth/sessions (README, "Auth and users"): the caller's live sessions,
where they came from, and ending one."""

import uuid
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.accounts import Account, bearer, login
from tests.conftest import bind_to_connection

SESSIONS = "/api/v1/auth/sessions"


def code_of(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_sessions_list_the_live_ones_newest_first_with_where_they_came_from(
    client: httpx.AsyncClient, alice: Account
) -> None:
    second = await client.post(
        "/api/v1/auth/jwt/login",
        data={"username": alice.email, "password": alice.password},
        headers={"User-Agent": "phone-app/2.1"},
    )
    response = await client.get(SESSIONS, headers=alice.headers)
    assert response.status_code == 200
    page = response.json()
    assert page["next_cursor"] is None
    newest, oldest = page["data"]
    assert set(newest) == {
        "id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "current"
    }  # fmt: skip
    assert newest["user_agent"] == "phone-app/2.1"
    assert oldest["user_agent"].startswith("python-httpx/")
    assert newest["ip"] == oldest["ip"] == "127.0.0.1"
    # `current` is the session of the token that asked.
    assert (newest["current"], oldest["current"]) == (False, True)
    mine = await client.get(SESSIONS, headers=bearer(second.json()["access_token"]))
    assert [s["current"] for s in mine.json()["data"]] == [True, False]


async def test_ended_sessions_are_not_listed(client: httpx.AsyncClient, alice: Account) -> None:
    logged_out = await login(client, alice.email)
    await client.post("/api/v1/auth/jwt/logout", headers=bearer(logged_out["access_token"]))
    data = (await client.get(SESSIONS, headers=alice.headers)).json()["data"]
    assert len(data) == 1 and data[0]["current"]


async def test_expired_sessions_are_not_listed(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await login(client, alice.email)
    await connection.execute(
        text(
            "UPDATE auth_sessions SET expires_at = now() - interval '1 second'"
            " WHERE id = (SELECT id FROM auth_sessions WHERE user_id = :u"
            " ORDER BY created_at DESC LIMIT 1)"
        ),
        {"u": alice.id},
    )
    data = (await client.get(SESSIONS, headers=alice.headers)).json()["data"]
    assert len(data) == 1 and data[0]["current"]


async def test_the_list_pages_by_cursor(client: httpx.AsyncClient, alice: Account) -> None:
    for _ in range(4):
        await login(client, alice.email)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(SESSIONS, headers=alice.headers, params=params)).json()
        seen += [s["id"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5


async def test_a_cursor_from_another_list_is_400(
    client: httpx.AsyncClient, alice: Account, admin: Account
) -> None:
    await login(client, admin.email)
    users = await client.get("/api/v1/users", headers=admin.headers, params={"limit": 1})
    cursor = users.json()["next_cursor"]
    response = await client.get(SESSIONS, headers=alice.headers, params={"cursor": cursor})
    assert (response.status_code, code_of(response)) == (400, "INVALID_CURSOR")


async def test_last_used_at_moves_at_refresh_and_not_per_request(
    client: httpx.AsyncClient, alice: Account
) -> None:
    async def last_used() -> str:
        [session] = (await client.get(SESSIONS, headers=alice.headers)).json()["data"]
        return str(session["last_used_at"])

    at_login = await last_used()
    for _ in range(3):
        await client.get("/api/v1/users/me", headers=alice.headers)
    assert await last_used() == at_login
    refreshed = await client.post(
        "/api/v1/auth/jwt/refresh", json={"refresh_token": alice.tokens["refresh_token"]}
    )
    alice.tokens = refreshed.json()
    assert await last_used() > at_login


async def test_the_user_agent_is_cut_to_a_sane_length(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(
        "/api/v1/auth/jwt/login",
        data={"username": alice.email, "password": alice.password},
        headers={"User-Agent": "x" * 5000},
    )
    sessions = await client.get(SESSIONS, headers=bearer(response.json()["access_token"]))
    assert len(sessions.json()["data"][0]["user_agent"]) == 512


async def test_the_address_is_the_one_the_rate_limits_see(
    app_factory: Callable[..., FastAPI], connection: AsyncConnection, alice: Account
) -> None:
    """Behind a trusted proxy, the forwarded client; a spoofed header is ignored otherwise
    (tests/shared/test_rate_limit.py)."""
    app = app_factory(trusted_proxies=["127.0.0.1"])
    bind_to_connection(app, connection)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.post(
            "/api/v1/auth/jwt/login",
            data={"username": alice.email, "password": alice.password},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        sessions = await client.get(SESSIONS, headers=bearer(response.json()["access_token"]))
    assert sessions.json()["data"][0]["ip"] == "203.0.113.9"


async def test_deleting_a_session_stops_its_tokens_at_once(
    client: httpx.AsyncClient, alice: Account
) -> None:
    other = await login(client, alice.email)
    [newest, _] = (await client.get(SESSIONS, headers=alice.headers)).json()["data"]
    response = await client.delete(f"{SESSIONS}/{newest['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert (
        await client.get("/api/v1/users/me", headers=bearer(other["access_token"]))
    ).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/jwt/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).status_code == 200
    again = await client.delete(f"{SESSIONS}/{newest['id']}", headers=alice.headers)
    assert (again.status_code, code_of(again)) == (404, "SESSION_NOT_FOUND")


async def test_deleting_the_callers_own_session_is_a_logout(
    client: httpx.AsyncClient, alice: Account
) -> None:
    [mine] = (await client.get(SESSIONS, headers=alice.headers)).json()["data"]
    assert (
        await client.delete(f"{SESSIONS}/{mine['id']}", headers=alice.headers)
    ).status_code == 204
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).status_code == 401


async def test_another_users_session_is_404_and_stays_alive(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    [bobs] = (await client.get(SESSIONS, headers=bob.headers)).json()["data"]
    response = await client.delete(f"{SESSIONS}/{bobs['id']}", headers=alice.headers)
    assert (response.status_code, code_of(response)) == (404, "SESSION_NOT_FOUND")
    assert (await client.get("/api/v1/users/me", headers=bob.headers)).status_code == 200


@pytest.mark.parametrize("session_id", ["not-a-uuid", "1", str(uuid.uuid4()), "%00"])
async def test_an_unknown_or_malformed_session_id_is_404(
    client: httpx.AsyncClient, alice: Account, session_id: str
) -> None:
    response = await client.delete(f"{SESSIONS}/{session_id}", headers=alice.headers)
    assert (response.status_code, code_of(response)) == (404, "SESSION_NOT_FOUND")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_sessions_need_a_token(client: httpx.AsyncClient, method: str) -> None:
    path = SESSIONS if method == "GET" else f"{SESSIONS}/{uuid.uuid4()}"
    response = await client.request(method, path)
    assert response.status_code == 401
