"""Ended sessions do not pile up: the purge deletes them (and their tokens, by cascade)."""

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from modules.auth.module import PURGE_AFTER
from tests.accounts import Account, login


async def count(connection: AsyncConnection, table: str) -> int:
    return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_purge_deletes_sessions_that_ended_long_enough_ago(
    app: FastAPI, client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    expired = await login(client, alice.email)
    revoked = await login(client, alice.email)
    await client.post(
        "/api/v1/auth/jwt/logout",
        headers={"Authorization": f"Bearer {revoked['access_token']}"},
    )
    await connection.execute(
        text(
            "UPDATE auth_sessions SET expires_at = now() - interval '2 days' WHERE id = ("
            " SELECT session_id FROM refresh_tokens WHERE token_hash = encode(sha256(:t), 'hex'))"
        ),
        {"t": expired["refresh_token"].encode()},
    )
    await connection.execute(
        text(
            "UPDATE auth_sessions SET revoked_at = now() - interval '2 days'"
            " WHERE revoked_at IS NOT NULL"
        )
    )
    assert await count(connection, "auth_sessions") == 3

    sessions = app.state.container.auth.login_sessions()
    factory = app.state.container.session_factory()
    async with factory() as session:
        purged = await sessions.purge(session, older_than=PURGE_AFTER)
        await session.commit()
    assert purged == 2
    assert await count(connection, "auth_sessions") == 1
    assert await count(connection, "refresh_tokens") == 1  # the live session's token
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).status_code == 200


async def test_purge_keeps_recently_ended_sessions(
    app: FastAPI, client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await client.post("/api/v1/auth/jwt/logout", headers=alice.headers)
    factory = app.state.container.session_factory()
    async with factory() as session:
        purged = await app.state.container.auth.login_sessions().purge(
            session, older_than=timedelta(days=1)
        )
    assert purged == 0
    assert await count(connection, "auth_sessions") == 1
