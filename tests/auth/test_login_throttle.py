"""Per-account login throttling (README, "Account protection"), through HTTP on real
PostgreSQL: counted per e-mail, from any address, doubling, capped, cleared."""

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from devtools.local_servers.mailbox import Mailbox
from modules.auth.throttle import throttle_key
from tests.accounts import PASSWORD, Account, login, new_email
from tests.auth.test_router import reset_token
from tests.conftest import bind_to_connection

LOGIN = "/api/v1/auth/jwt/login"


def other_address_client(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, data={"username": email, "password": password})


async def fail(client: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        response = await attempt(client, email, "wrong-password")
        assert response.json()["error"]["code"] == "LOGIN_BAD_CREDENTIALS", response.text


async def end_the_delay(connection: AsyncConnection, email: str) -> None:
    """The delay's time passing, without the wait."""
    await connection.execute(
        text(
            "UPDATE login_throttles SET blocked_until = now() - interval '1 second' WHERE key = :k"
        ),
        {"k": throttle_key(email)},
    )


def assert_throttled(response: httpx.Response, seconds: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "LOGIN_THROTTLED"
    assert seconds - 5 <= int(response.headers["Retry-After"]) <= seconds


async def test_five_failures_delay_the_account_even_with_the_right_password_from_elsewhere(
    app: FastAPI, client: httpx.AsyncClient, alice: Account
) -> None:
    await fail(client, alice.email, 4)
    await login(client, alice.email)  # the fifth attempt: right, and it clears the count
    await fail(client, alice.email, 5)
    assert_throttled(await attempt(client, alice.email, PASSWORD), 60)
    async with other_address_client(app, "198.51.100.7") as elsewhere:
        assert_throttled(await attempt(elsewhere, alice.email, PASSWORD), 60)
    # The access the account already had is not touched.
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).status_code == 200


async def test_the_delay_doubles_with_each_further_failure(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await fail(client, alice.email, 5)
    for seconds in (60, 120, 240, 480):
        assert_throttled(await attempt(client, alice.email, "wrong-password"), seconds)
        await end_the_delay(connection, alice.email)
        await fail(client, alice.email, 1)
    assert_throttled(await attempt(client, alice.email, PASSWORD), 900)  # 16 min, capped at 15


@pytest.fixture
async def capped_client(
    app_factory: Callable[..., FastAPI], connection: AsyncConnection
) -> AsyncIterator[httpx.AsyncClient]:
    app = app_factory(login_failures_before_delay=2, login_delay_max_minutes=3)
    bind_to_connection(app, connection)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_the_settings_set_the_threshold_and_the_cap(
    capped_client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await fail(capped_client, alice.email, 2)
    for seconds in (60, 120, 180, 180):
        assert_throttled(await attempt(capped_client, alice.email, PASSWORD), seconds)
        await end_the_delay(connection, alice.email)
        await fail(capped_client, alice.email, 1)


async def test_attempts_during_the_delay_do_not_lengthen_it(
    client: httpx.AsyncClient, alice: Account
) -> None:
    await fail(client, alice.email, 5)
    for _ in range(3):
        assert_throttled(await attempt(client, alice.email, "wrong-password"), 60)


async def test_an_unknown_email_is_throttled_exactly_like_a_known_one(
    client: httpx.AsyncClient, alice: Account
) -> None:
    nobody = new_email("nobody")
    answers = []
    for email in (alice.email, nobody):
        responses = [await attempt(client, email, "wrong-password") for _ in range(6)]
        answers.append(
            [
                (r.status_code, r.json()["error"]["code"], r.headers.get("Retry-After"))
                for r in responses
            ]
        )
    assert answers[0] == answers[1]
    assert answers[0][-1][:2] == (429, "LOGIN_THROTTLED")


async def test_the_email_is_normalized_and_stored_only_as_a_hash(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await fail(client, alice.email.upper(), 3)
    await fail(client, f"  {alice.email} ", 2)
    assert_throttled(await attempt(client, alice.email, PASSWORD), 60)
    rows = (await connection.execute(text("SELECT key, failures FROM login_throttles"))).all()
    assert [tuple(row) for row in rows] == [(throttle_key(alice.email), 5)]
    assert alice.email not in str(rows)


async def test_a_password_reset_ends_the_delay(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    alice: Account,
    mailbox: Mailbox,
) -> None:
    await fail(client, alice.email, 5)
    token = await reset_token(app, connection, client, mailbox, alice.email)
    reset = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "a-brand-new-secret"}
    )
    assert reset.status_code == 200
    await login(client, alice.email, "a-brand-new-secret")


async def test_two_app_instances_share_the_count(
    app_factory: Callable[..., FastAPI], connection: AsyncConnection, alice: Account
) -> None:
    """Two processes' worth of apps (separate containers, pools, caches) on one database."""
    clients = []
    for _ in range(2):
        app = app_factory()
        bind_to_connection(app, connection)
        clients.append(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        )
    for attempt_number in range(5):
        await fail(clients[attempt_number % 2], alice.email, 1)
    for client in clients:
        assert_throttled(await attempt(client, alice.email, PASSWORD), 60)
        await client.aclose()


async def test_a_failed_login_does_the_same_work_whether_or_not_the_account_exists(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    """What the timing is made of: the same statements, in the same order, and one password
    hash (a real verify, or a dummy hash for an unknown e-mail)."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(re.sub(r"\s+", " ", statement))

    sync = connection.sync_connection
    assert sync is not None
    work = []
    for email in (alice.email, new_email("nobody")):
        statements.clear()
        event.listen(sync, "before_cursor_execute", record)
        try:
            response = await attempt(client, email, "wrong-password")
        finally:
            event.remove(sync, "before_cursor_execute", record)
        assert response.status_code == 400
        work.append([s for s in statements if "SAVEPOINT" not in s])
    assert work[0] == work[1]
    assert any("login_throttles" in s for s in work[0])
