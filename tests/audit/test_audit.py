"""The audit trail (README, "Account protection"): every listed action recorded by auth and
users in the transaction of the request that does it, listed for superusers."""

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from devtools.local_servers.mailbox import Mailbox
from modules.audit.public import AuditTrail
from shared.edge.client import Client
from tests.accounts import PASSWORD, Account, bearer, create_account, login, past_the_reuse_grace
from tests.auth.test_router import reset_token, verify_token
from tests.totp import clear_of_a_step_boundary, enable_two_factor, mfa_token, second_step

AUDIT = "/api/v1/audit"

LISTED_ACTIONS = {
    "auth.login.succeeded",
    "auth.login.failed",
    "auth.login.throttled",
    "auth.logout",
    "auth.logout_all",
    "auth.session.revoked",
    "auth.refresh.reused",
    "auth.password.reset_requested",
    "auth.password.reset",
    "auth.email.verified",
    "auth.2fa.enabled",
    "auth.2fa.disabled",
    "auth.2fa.failed",
    "users.registered",
    "users.updated",
    "users.password.changed",
    "users.email.changed",
    "users.deleted",
    "users.admin.updated",
    "users.admin.deleted",
}


async def entries(
    client: httpx.AsyncClient, admin: Account, **filters: str
) -> list[dict[str, Any]]:
    response = await client.get(AUDIT, headers=admin.headers, params={"limit": 100, **filters})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_every_listed_action_is_recorded_and_no_secret_is(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    admin: Account,
    mailbox: Mailbox,
) -> None:
    secrets: list[str] = [PASSWORD, "a-brand-new-secret", "another-new-secret"]
    dave = await create_account(client, "dave")  # users.registered, auth.login.succeeded
    secrets += [dave.tokens["access_token"], dave.tokens["refresh_token"]]
    # auth.login.failed, then auth.login.throttled
    for _ in range(5):
        await client.post(
            "/api/v1/auth/jwt/login", data={"username": dave.email, "password": "x" * 9}
        )
    await client.post("/api/v1/auth/jwt/login", data={"username": dave.email, "password": PASSWORD})
    await connection.execute(text("DELETE FROM login_throttles"))
    # auth.refresh.reused
    spare = await login(client, dave.email)
    secrets += [spare["access_token"], spare["refresh_token"]]
    for _ in range(2):
        await client.post(
            "/api/v1/auth/jwt/refresh", json={"refresh_token": spare["refresh_token"]}
        )
        await past_the_reuse_grace(connection)
    # auth.session.revoked, auth.logout, auth.logout_all
    other = await login(client, dave.email)
    sessions = (await client.get("/api/v1/auth/sessions", headers=dave.headers)).json()["data"]
    await client.delete(f"/api/v1/auth/sessions/{sessions[0]['id']}", headers=dave.headers)
    third = await login(client, dave.email)
    await client.post("/api/v1/auth/jwt/logout", headers=bearer(third["access_token"]))
    secrets += [other["refresh_token"], third["refresh_token"]]
    # auth.email.verified; auth.password.reset_requested and auth.password.reset
    verify = await verify_token(app, connection, client, mailbox, dave.email)
    await client.post("/api/v1/auth/verify", json={"token": verify})
    reset = await reset_token(app, connection, client, mailbox, dave.email)
    await client.post(
        "/api/v1/auth/reset-password", json={"token": reset, "password": "a-brand-new-secret"}
    )
    secrets += [verify, reset]
    dave.password = "a-brand-new-secret"
    dave.tokens = await login(client, dave.email, dave.password)
    # auth.2fa.enabled, auth.2fa.failed, auth.2fa.disabled
    two_factor = await enable_two_factor(client, dave)
    secrets += [two_factor.secret, *two_factor.recovery_codes]
    token = await mfa_token(client, dave)
    await second_step(client, token, "000000")
    await clear_of_a_step_boundary()
    code = two_factor.code()
    await second_step(client, token, code)
    secrets += [token, code]
    await client.post(
        "/api/v1/auth/2fa/disable",
        headers=dave.headers,
        json={"current_password": dave.password, "code": two_factor.recovery_codes[0]},
    )
    # users.updated, users.password.changed, users.email.changed
    new_email = f"dave-{uuid.uuid4().hex[:6]}@example.com"
    await client.patch(
        "/api/v1/users/me",
        headers=dave.headers,
        json={
            "email": new_email,
            "password": "another-new-secret",
            "current_password": dave.password,
        },
    )
    await client.post("/api/v1/auth/jwt/logout-all", headers=dave.headers)
    # users.admin.updated, users.admin.deleted, users.deleted
    erin = await create_account(client, "erin")
    await client.patch(f"/api/v1/users/{erin.id}", headers=admin.headers, json={"is_active": False})
    await client.delete(f"/api/v1/users/{erin.id}", headers=admin.headers)
    frank = await create_account(client, "frank")
    await client.delete("/api/v1/users/me", headers=frank.headers)

    recorded = await entries(client, admin)
    missing = LISTED_ACTIONS - {entry["action"] for entry in recorded}
    assert not missing
    everything = json.dumps(recorded)
    leaked = [secret for secret in secrets if secret in everything]
    assert not leaked
    for entry in recorded:
        assert entry["ip"] == "127.0.0.1"
        assert entry["request_id"]
        assert entry["user_agent"].startswith("python-httpx/")


async def test_entries_name_who_did_what_to_whom(
    app: FastAPI, connection: AsyncConnection, client: httpx.AsyncClient, admin: Account
) -> None:
    erin = await create_account(client, "erin")
    await client.patch(
        f"/api/v1/users/{erin.id}",
        headers=admin.headers,
        json={"is_verified": True, "full_name": "Erin E."},
    )
    [entry] = await entries(client, admin, action="users.admin.updated")
    assert (entry["actor_id"], entry["target_type"], entry["target_id"]) == (
        admin.id,
        "user",
        erin.id,
    )
    assert entry["details"] == {
        "fields": ["full_name", "is_verified"],
        "is_verified": {"old": False, "new": True},
    }
    [login_entry] = await entries(client, admin, action="auth.login.succeeded", actor_id=erin.id)
    assert login_entry["target_type"] == "session"


async def test_a_failed_attempt_is_recorded_although_it_fails(
    app: FastAPI, connection: AsyncConnection, client: httpx.AsyncClient, admin: Account
) -> None:
    email = f"nobody-{uuid.uuid4().hex[:6]}@example.com"
    response = await client.post(
        "/api/v1/auth/jwt/login", data={"username": email, "password": "whatever-it-is"}
    )
    assert response.status_code == 400
    [entry] = await entries(client, admin, action="auth.login.failed")
    assert entry["actor_id"] is None
    assert entry["details"] == {"email": email, "reason": "bad_credentials"}
    assert entry["request_id"] == response.headers["X-Request-ID"]


async def test_a_change_that_fails_records_nothing(
    app: FastAPI, connection: AsyncConnection, client: httpx.AsyncClient, admin: Account
) -> None:
    taken = await create_account(client, "taken")
    response = await client.patch(
        f"/api/v1/users/{admin.id}", headers=admin.headers, json={"email": taken.email}
    )
    assert response.status_code == 409
    assert await entries(client, admin, action="users.admin.updated") == []


async def test_filters_combine_and_the_list_is_newest_first(
    app: FastAPI, connection: AsyncConnection, client: httpx.AsyncClient, admin: Account
) -> None:
    erin = await create_account(client, "erin")
    for _ in range(3):
        await login(client, erin.email)
    mine = await entries(client, admin, actor_id=erin.id, action="auth.login.succeeded")
    assert len(mine) == 4
    assert [e["at"] for e in mine] == sorted((e["at"] for e in mine), reverse=True)
    assert all(e["actor_id"] == erin.id for e in mine)
    as_target = await entries(client, admin, target_id=erin.id)
    assert {e["action"] for e in as_target} == {"users.registered"}


async def test_the_list_pages_by_cursor_and_a_cursor_keeps_to_its_filter(
    app: FastAPI, connection: AsyncConnection, client: httpx.AsyncClient, admin: Account
) -> None:
    erin = await create_account(client, "erin")
    for _ in range(4):
        await login(client, erin.email)
    filters = {"actor_id": erin.id, "limit": "2"}
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params = filters | ({"cursor": cursor} if cursor else {})
        page = (await client.get(AUDIT, headers=admin.headers, params=params)).json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6  # registered, five logins
    first = (await client.get(AUDIT, headers=admin.headers, params=filters)).json()
    elsewhere = await client.get(
        AUDIT, headers=admin.headers, params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (400, "INVALID_CURSOR")


@pytest.mark.parametrize("name", ["actor_id", "target_id"])
@pytest.mark.parametrize("value", ["not-a-uuid", "1", "%00"])
async def test_malformed_id_filters_are_422(
    client: httpx.AsyncClient, admin: Account, name: str, value: str
) -> None:
    response = await client.get(AUDIT, headers=admin.headers, params={name: value})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "VALIDATION_ERROR")


async def test_a_tampered_cursor_is_400(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.get(AUDIT, headers=admin.headers, params={"cursor": "AAAA"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "INVALID_CURSOR")


async def test_only_superusers_read_the_trail(client: httpx.AsyncClient, alice: Account) -> None:
    assert (await client.get(AUDIT, headers=alice.headers)).status_code == 403
    assert (await client.get(AUDIT)).status_code == 401


async def test_details_named_like_credentials_are_refused_before_anything_is_written(
    app: FastAPI,
) -> None:
    trail = AuditTrail(None, Client(None, None, None))  # type: ignore[arg-type]
    for key in ("password", "refresh_token", "totp_secret", "code"):
        with pytest.raises(ValueError, match="credentials"):
            await trail.record("users.updated", details={key: "x"})


async def test_entries_older_than_the_retention_are_purged(
    app: FastAPI, connection: AsyncConnection, client: httpx.AsyncClient, admin: Account
) -> None:
    await connection.execute(
        text(
            "UPDATE audit_events SET at = now() - interval '366 days'"
            " WHERE action = 'users.registered'"
        )
    )
    log = app.state.container.audit.log()
    async with app.state.container.session_factory()() as session:
        purged = await log.purge(session, older_than=timedelta(days=365))
        await session.commit()
    assert purged == 1
    left = {e["action"] for e in await entries(client, admin)}
    assert "users.registered" not in left
    assert "auth.login.succeeded" in left
