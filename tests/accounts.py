"""Building accounts through the API, as a client would."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

PASSWORD = "correct-horse-battery"


@dataclass
class Account:
    id: str
    email: str
    password: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def new_email(name: str = "user") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


async def register(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/jwt/login", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def create_account(client: httpx.AsyncClient, name: str = "user") -> Account:
    email = new_email(name)
    user_id = await register(client, email)
    return Account(user_id, email, PASSWORD, await login(client, email))


async def create_api_key(
    client: httpx.AsyncClient, account: Account, scopes: list[str], name: str = "a key"
) -> dict[str, Any]:
    """A new API key of `account` (logged in within REAUTH_WINDOW_MINUTES): its ApiKeyRead
    and, as `key`, the secret."""
    response = await client.post(
        "/api/v1/auth/api-keys", headers=account.headers, json={"name": name, "scopes": scopes}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def grant_superuser(connection: AsyncConnection, account: Account) -> None:
    await connection.execute(
        text("UPDATE users SET is_superuser = true WHERE id = :id"), {"id": account.id}
    )


async def past_the_reuse_grace(connection: AsyncConnection) -> None:
    """As if REFRESH_REUSE_GRACE_SECONDS (10 by default) had passed since every refresh: a used
    refresh token presented now counts as reuse."""
    await connection.execute(
        text("UPDATE refresh_tokens SET used_at = used_at - interval '11 seconds'")
    )
