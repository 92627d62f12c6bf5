"""API keys (README, "Permissions and API keys"): minted once, stored as a hash, scoped,
expiring, revocable, never managing the account. Through HTTP on real PostgreSQL."""

import hashlib
import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from devtools.local_servers.mailbox import Mailbox
from tests.accounts import Account, bearer, create_api_key
from tests.auth.test_reauth import age_the_proof, code_of
from tests.conftest import delivered

KEYS = "/api/v1/auth/api-keys"
ITEMS = "/api/v1/items"
ME = "/api/v1/users/me"


async def key_row(connection: AsyncConnection, key_id: str) -> dict[str, Any]:
    row = await connection.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": key_id})
    return dict(row.mappings().one())


async def test_a_key_is_shown_once_and_stored_as_a_hash(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    created = await create_api_key(client, alice, ["items:read", "items:write"], name="export")
    key = created["key"]
    assert re.fullmatch(r"mlt_[A-Za-z0-9_-]{32,}", key)
    assert created["prefix"] == key[:12]
    assert created["scopes"] == ["items:read", "items:write"]
    assert created["last_used_at"] is None
    assert created["name"] == "export"
    row = await key_row(connection, created["id"])
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {str(value) for value in row.values()}
    # 90 days unless asked otherwise.
    lifetime = row["expires_at"] - row["created_at"]
    assert round(lifetime.total_seconds() / 86400) == 90

    second = await create_api_key(client, alice, ["items:read"], name="second")
    listed = (await client.get(KEYS, headers=alice.headers)).json()["data"]
    assert [k["id"] for k in listed] == [second["id"], created["id"]]  # newest first
    assert all("key" not in k for k in listed)
    assert set(listed[0]) == {
        "id", "name", "scopes", "prefix", "created_at", "expires_at", "last_used_at",
    }  # fmt: skip


async def test_a_key_acts_as_its_owner_within_its_scopes(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    writer = bearer((await create_api_key(client, alice, ["items:read", "items:write"]))["key"])
    created = await client.post(ITEMS, headers=writer, json={"title": "by key", "price": "1.00"})
    assert created.status_code == 201, created.text
    assert created.json()["owner_id"] == alice.id
    # Ownership applies as to the owner: bob's items stay out of reach.
    bobs = await client.post(ITEMS, headers=bob.headers, json={"title": "bob's", "price": "1"})
    assert (await client.get(f"{ITEMS}/{bobs.json()['id']}", headers=writer)).status_code == 404

    reader = bearer((await create_api_key(client, alice, ["items:read"]))["key"])
    assert (await client.get(ITEMS, headers=reader)).json()["data"][0]["title"] == "by key"
    refused = await client.post(ITEMS, headers=reader, json={"title": "no", "price": "1"})
    assert refused.status_code == 403
    assert code_of(refused) == "FORBIDDEN"
    assert "items:write" in refused.json()["error"]["detail"]

    me = (await client.get(ME, headers=reader)).json()
    assert me["id"] == alice.id
    assert me["permissions"] == ["items:read"]  # what both the key and alice hold


async def test_scopes_must_be_declared_and_held(client: httpx.AsyncClient, alice: Account) -> None:
    unknown = await client.post(
        KEYS, headers=alice.headers, json={"name": "k", "scopes": ["items:read", "nope:x"]}
    )
    assert unknown.status_code == 400
    assert code_of(unknown) == "UNKNOWN_PERMISSION"
    assert "nope:x" in unknown.json()["error"]["detail"]
    not_held = await client.post(
        KEYS, headers=alice.headers, json={"name": "k", "scopes": ["audit:read"]}
    )
    assert not_held.status_code == 403
    assert "audit:read" in not_held.json()["error"]["detail"]
    for body in (
        {"name": "k", "scopes": []},
        {"name": "", "scopes": ["items:read"]},
        {"name": "k" * 101, "scopes": ["items:read"]},
        {"name": "k", "scopes": ["items:read"], "expires_in_days": 0},
        {"name": "k", "scopes": ["items:read"], "expires_in_days": 366},
    ):
        assert (await client.post(KEYS, headers=alice.headers, json=body)).status_code == 422
    assert (await client.get(KEYS, headers=alice.headers)).json()["data"] == []


async def test_creating_a_key_needs_a_recent_password_proof(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await age_the_proof(connection, alice)
    refused = await client.post(
        KEYS, headers=alice.headers, json={"name": "k", "scopes": ["items:read"]}
    )
    assert refused.status_code == 401
    assert code_of(refused) == "REAUTH_REQUIRED"


async def test_a_key_cannot_manage_the_account(client: httpx.AsyncClient, alice: Account) -> None:
    key = bearer((await create_api_key(client, alice, ["items:read", "items:write"]))["key"])
    account_routes = [
        ("POST", KEYS, {"name": "k", "scopes": ["items:read"]}),
        ("GET", KEYS, None),
        ("DELETE", f"{KEYS}/00000000-0000-0000-0000-000000000000", None),
        ("GET", "/api/v1/auth/sessions", None),
        ("DELETE", "/api/v1/auth/sessions/00000000-0000-0000-0000-000000000000", None),
        ("POST", "/api/v1/auth/jwt/refresh", {"refresh_token": alice.tokens["refresh_token"]}),
        ("POST", "/api/v1/auth/jwt/logout", None),
        ("POST", "/api/v1/auth/jwt/logout-all", None),
        ("POST", "/api/v1/auth/reauth", {"password": "x"}),
        ("POST", "/api/v1/auth/2fa/setup", None),
        ("POST", "/api/v1/auth/2fa/enable", {"code": "123456"}),
        ("POST", "/api/v1/auth/2fa/disable", {"password": "x"}),
        ("PATCH", ME, {"full_name": "Mallory"}),
        ("DELETE", ME, None),
    ]
    for method, path, body in account_routes:
        response = await client.request(method, path, headers=key, json=body)
        assert response.status_code == 403, (method, path, response.text)
    assert (await client.get(ME, headers=key)).json()["full_name"] is None
    assert (await client.get(ME, headers=alice.headers)).status_code == 200  # still there
    refreshed = await client.post(
        "/api/v1/auth/jwt/refresh", json={"refresh_token": alice.tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200  # the refresh the key was refused did not use it


async def test_a_revoked_key_stops_at_once(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    created = await create_api_key(client, alice, ["items:read"])
    key = bearer(created["key"])
    assert (await client.get(ITEMS, headers=key)).status_code == 200
    # Bob cannot revoke it; an unknown or malformed id is the same 404.
    for path, who in (
        (f"{KEYS}/{created['id']}", bob),
        (f"{KEYS}/00000000-0000-0000-0000-000000000000", alice),
        (f"{KEYS}/not-an-id", alice),
    ):
        missing = await client.delete(path, headers=who.headers)
        assert missing.status_code == 404
        assert code_of(missing) == "API_KEY_NOT_FOUND"
    assert (
        await client.delete(f"{KEYS}/{created['id']}", headers=alice.headers)
    ).status_code == 204
    refused = await client.get(ITEMS, headers=key)
    assert refused.status_code == 401
    assert code_of(refused) == "UNAUTHORIZED"
    again = await client.delete(f"{KEYS}/{created['id']}", headers=alice.headers)
    assert again.status_code == 404
    assert (await client.get(KEYS, headers=alice.headers)).json()["data"] == []


async def test_expired_unknown_and_inactive_owners_keys_are_401(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    expired = await create_api_key(client, alice, ["items:read"])
    await connection.execute(
        text("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": expired["id"]},
    )
    assert (await client.get(ITEMS, headers=bearer(expired["key"]))).status_code == 401
    # Still listed (expired, not revoked).
    assert [k["id"] for k in (await client.get(KEYS, headers=alice.headers)).json()["data"]] == [
        expired["id"]
    ]
    live = await create_api_key(client, alice, ["items:read"])
    forged = live["key"][:-1] + ("A" if live["key"][-1] != "A" else "B")
    assert (await client.get(ITEMS, headers=bearer(forged))).status_code == 401
    assert (await client.get(ITEMS, headers=bearer("mlt_short"))).status_code == 401
    await connection.execute(
        text("UPDATE users SET is_active = false WHERE id = :id"), {"id": alice.id}
    )
    assert (await client.get(ITEMS, headers=bearer(live["key"]))).status_code == 401


async def test_a_deleted_owners_keys_go_with_them(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    created = await create_api_key(client, alice, ["items:read"])
    assert (await client.delete(ME, headers=alice.headers)).status_code == 204
    assert (await client.get(ITEMS, headers=bearer(created["key"]))).status_code == 401
    left = await connection.execute(text("SELECT count(*) FROM api_keys"))
    assert left.scalar_one() == 0


async def test_last_used_at_is_kept_to_the_minute_without_a_write_per_request(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    created = await create_api_key(client, alice, ["items:read"])
    key = bearer(created["key"])
    assert (await client.get(ITEMS, headers=key)).status_code == 200
    first = (await key_row(connection, created["id"]))["last_used_at"]
    assert first is not None
    # Used 30 s ago: this request does not write.
    await connection.execute(
        text("UPDATE api_keys SET last_used_at = now() - interval '30 seconds' WHERE id = :id"),
        {"id": created["id"]},
    )
    earlier = (await key_row(connection, created["id"]))["last_used_at"]
    assert (await client.get(ITEMS, headers=key)).status_code == 200
    assert (await key_row(connection, created["id"]))["last_used_at"] == earlier
    # Used two minutes ago: this one does.
    await connection.execute(
        text("UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = :id"),
        {"id": created["id"]},
    )
    assert (await client.get(ITEMS, headers=key)).status_code == 200
    assert (await key_row(connection, created["id"]))["last_used_at"] == first
    listed = (await client.get(KEYS, headers=alice.headers)).json()["data"][0]
    assert listed["last_used_at"] is not None


async def test_keys_are_audited_and_their_creation_told_to_the_owner(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Account,
    connection: AsyncConnection,
    mailbox: Mailbox,
) -> None:
    created = await create_api_key(client, alice, ["items:read"], name="nightly")
    await client.delete(f"{KEYS}/{created['id']}", headers=alice.headers)
    rows = await connection.execute(
        text(
            "SELECT action, actor_id::text, details FROM audit_events"
            " WHERE action LIKE 'auth.api_key.%' ORDER BY at, action"
        )
    )
    entries = [tuple(row) for row in rows]
    details = {"id": created["id"], "name": "nightly", "scopes": ["items:read"]}
    assert entries == [
        ("auth.api_key.created", alice.id, details),
        ("auth.api_key.revoked", alice.id, details),
    ]
    assert created["key"] not in str(entries)
    await delivered(app, connection)
    alerts = [m for m in mailbox.to(alice.email) if m["Subject"] == "An API key was created"]
    assert len(alerts) == 1
    body = alerts[0].get_payload(decode=True)
    assert isinstance(body, bytes)
    assert b"nightly" in body
    assert created["key"].encode() not in body
