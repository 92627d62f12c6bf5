"""Personal data (README, "Personal data"): the export routes and the archive every module
contributes to, and the erasure every module does when an account is deleted. Through the
app on real PostgreSQL; the jobs run by the app's own job runner, in the test's transaction
(`delivered`). tests/jobs/test_personal_data_jobs.py runs them in a real worker.
"""

import dataclasses
import hashlib
import json
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from devtools.local_servers.mailbox import Mailbox
from main import MODULES
from shared.module import Module, tables_by_module
from tests.accounts import PASSWORD, Account, bearer, create_account, create_api_key
from tests.auth.test_reauth import age_the_proof
from tests.conftest import delivered

EXPORT = "/api/v1/users/me/export"
EXPORTS = "/api/v1/users/me/exports"
# A column that refers to a user: a foreign key into users, or one of these names.
USER_COLUMNS = {"user_id", "owner_id", "actor_id"}


def modules_holding_personal_data_undeclared(modules: tuple[Module, ...]) -> list[str]:
    """The modules owning a column that refers to a user but declaring no `personal_data`."""
    owned = tables_by_module(modules)
    return [
        module.name
        for module in modules
        if module.personal_data is None
        and any(_refers_to_a_user(SQLModel.metadata.tables[t]) for t in owned.get(module.name, ()))
    ]


def _refers_to_a_user(table: sa.Table) -> bool:
    return any(
        column.name in USER_COLUMNS
        or any(key.column.table.name == "users" for key in column.foreign_keys)
        for column in table.columns
    )


def test_every_module_holding_data_about_a_user_says_how_to_export_and_erase_it() -> None:
    assert modules_holding_personal_data_undeclared(MODULES) == []
    forgetful = tuple(
        dataclasses.replace(module, personal_data=None) if module.name == "items" else module
        for module in MODULES
    )
    assert modules_holding_personal_data_undeclared(forgetful) == ["items"]


async def export_ready(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection, account: Account
) -> dict[str, Any]:
    requested = await client.post(EXPORT, headers=account.headers)
    assert requested.status_code == 202, requested.text
    await delivered(app, connection)
    ready = await client.get(f"{EXPORTS}/{requested.json()['id']}", headers=account.headers)
    assert ready.json()["status"] == "ready", ready.text
    body: dict[str, Any] = ready.json()
    return body


async def test_an_export_gathers_every_modules_section_and_no_secret(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection, mailbox: Mailbox
) -> None:
    alice = await create_account(client, "alice")
    for title in ("first", "second"):
        created = await client.post(
            "/api/v1/items", json={"title": title, "price": "1.50"}, headers=alice.headers
        )
        assert created.status_code == 201
    key = await create_api_key(client, alice, ["items:read"], name="laptop script")

    requested = await client.post(EXPORT, headers=alice.headers)
    assert requested.status_code == 202
    pending = requested.json()
    assert pending["status"] == "pending"
    assert pending["completed_at"] is None and pending["expires_at"] is None
    again = await client.post(EXPORT, headers=alice.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "EXPORT_IN_PROGRESS"
    early = await client.get(f"{EXPORTS}/{pending['id']}/download", headers=alice.headers)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "EXPORT_NOT_READY"

    await delivered(app, connection)  # the export job
    await delivered(app, connection)  # the e-mail it queued
    [mail] = [m for m in mailbox.to(alice.email) if m["Subject"] == "Your data export is ready"]
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert f"/api/v1/users/me/exports/{pending['id']}/download".encode() in body
    listed = (await client.get(EXPORTS, headers=alice.headers)).json()["data"]
    assert [(e["id"], e["status"]) for e in listed] == [(pending["id"], "ready")]

    download = await client.get(f"{EXPORTS}/{pending['id']}/download", headers=alice.headers)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/json"
    assert download.headers["content-disposition"] == (
        f'attachment; filename="modulith-export-{pending["id"]}.json"'
    )
    archive = download.json()
    assert archive["format"] == "modulith-export/1"
    assert archive["user_id"] == alice.id
    sections = archive["modules"]
    assert set(sections) == {"users", "auth", "items", "audit"}
    assert sections["users"]["account"]["email"] == alice.email
    assert [e["id"] for e in sections["users"]["exports"]] == [pending["id"]]
    assert [s["ip"] for s in sections["auth"]["sessions"]] == ["127.0.0.1"]
    assert [(k["name"], k["scopes"]) for k in sections["auth"]["api_keys"]] == [
        ("laptop script", ["items:read"])
    ]
    assert sections["auth"]["two_factor"] == {"enabled": False}
    assert sorted(i["title"] for i in sections["items"]["items"]) == ["first", "second"]
    assert sections["items"]["items"][0]["price"] == "1.50"  # as ItemRead serves it
    actions = {event["action"] for event in sections["audit"]["events"]}
    assert "auth.api_key.created" in actions
    # Never a secret: no hash, no token, no key.
    raw = download.text
    hashed = await connection.scalar(
        text("SELECT hashed_password FROM users WHERE id = :id"), {"id": alice.id}
    )
    for secret in (
        hashed,
        alice.tokens["access_token"],
        alice.tokens["refresh_token"],
        key["key"],
        "hashed_password",
        "key_hash",
        "token_hash",
    ):
        assert secret not in raw


async def test_exports_are_their_owners_alone_and_refused_to_api_keys(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    alice, bob = await create_account(client, "alice"), await create_account(client, "bob")
    export = await export_ready(client, app, connection, alice)
    for path in (f"{EXPORTS}/{export['id']}", f"{EXPORTS}/{export['id']}/download"):
        theirs = await client.get(path, headers=bob.headers)
        assert theirs.status_code == 404
        assert theirs.json()["error"]["code"] == "EXPORT_NOT_FOUND"
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        missing = await client.get(f"{EXPORTS}/{unknown}", headers=alice.headers)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "EXPORT_NOT_FOUND"
    assert (await client.get(EXPORTS, headers=bob.headers)).json() == {"data": []}
    newer = await export_ready(client, app, connection, alice)
    listed = (await client.get(EXPORTS, headers=alice.headers)).json()["data"]
    assert [e["id"] for e in listed] == [newer["id"], export["id"]]  # newest first
    key = bearer((await create_api_key(client, alice, ["items:read"]))["key"])
    for method, path in (
        ("POST", EXPORT),
        ("GET", EXPORTS),
        ("GET", f"{EXPORTS}/{export['id']}"),
        ("GET", f"{EXPORTS}/{export['id']}/download"),
    ):
        assert (await client.request(method, path, headers=key)).status_code == 403


async def test_asking_for_an_export_needs_a_recent_password_proof(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    alice = await create_account(client, "alice")
    await age_the_proof(connection, alice)
    stale = await client.post(EXPORT, headers=alice.headers)
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "REAUTH_REQUIRED"


async def test_an_expired_export_is_gone_then_purged(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    alice = await create_account(client, "alice")
    export = await export_ready(client, app, connection, alice)
    await connection.execute(
        text("UPDATE data_exports SET expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": export["id"]},
    )
    gone = await client.get(f"{EXPORTS}/{export['id']}/download", headers=alice.headers)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "EXPORT_EXPIRED"
    container = app.state.container
    session_factory = container.session_factory()
    async with session_factory() as session:
        assert await container.users.data_exports().purge(session) == 1
        await session.commit()
    assert (await client.get(EXPORTS, headers=alice.headers)).json() == {"data": []}
    pieces = await connection.scalar(text("SELECT count(*) FROM data_export_chunks"))
    assert pieces == 0


async def test_deleting_an_account_erases_what_every_module_holds_about_it(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    alice = await create_account(client, "alice")
    headers = {**alice.headers, "Idempotency-Key": "alice-first-item"}
    created = await client.post(
        "/api/v1/items", json={"title": "mine", "price": "2.00"}, headers=headers
    )
    assert created.status_code == 201
    await create_api_key(client, alice, ["items:read"])
    await export_ready(client, app, connection, alice)
    # Rows keyed by the address: a failed login (its throttle), a reset e-mail (its quota).
    failed = await client.post(
        "/api/v1/auth/jwt/login", data={"username": alice.email, "password": "wrong-password"}
    )
    assert failed.status_code == 400
    forgot = await client.post("/api/v1/auth/forgot-password", json={"email": alice.email})
    assert forgot.status_code == 202
    await delivered(app, connection)

    address_key = hashlib.sha256(alice.email.lower().encode()).hexdigest()

    async def count(statement: str) -> int:
        values = {"id": alice.id, "key": address_key}
        return int(await connection.scalar(text(statement), values) or 0)

    # What the erasure must remove is there, to begin with.
    assert await count("SELECT count(*) FROM login_throttles WHERE key = :key") == 1
    assert await count("SELECT count(*) FROM mail_quotas WHERE key = :key") == 1
    assert await count("SELECT count(*) FROM item_idempotency_keys WHERE owner_id = :id") == 1

    deleted = await client.request(
        "DELETE", "/api/v1/users/me", headers=alice.headers, json={"password": PASSWORD}
    )
    assert deleted.status_code == 204, deleted.text
    await delivered(app, connection)  # every module's eraser, on users.deleted

    for table, column in (
        ("items", "owner_id"),
        ("item_idempotency_keys", "owner_id"),
        ("auth_sessions", "user_id"),
        ("api_keys", "user_id"),
        ("data_exports", "user_id"),
    ):
        assert await count(f"SELECT count(*) FROM {table} WHERE {column} = :id") == 0, table
    assert await count("SELECT count(*) FROM login_throttles WHERE key = :key") == 0
    assert await count("SELECT count(*) FROM mail_quotas WHERE key = :key") == 0
    events = (
        await connection.execute(
            text(
                "SELECT action, actor_id, target_type, target_id, ip, user_agent, request_id,"
                " details FROM audit_events WHERE actor_id = :id OR target_id = :id"
            ),
            {"id": alice.id},
        )
    ).all()
    actions = {event.action for event in events}
    assert {"auth.login.failed", "users.deleted", "auth.api_key.created"} <= actions
    for event in events:  # countable, naming nobody
        assert (event.ip, event.user_agent, event.request_id, event.details) == (
            None,
            None,
            None,
            {},
        )
        assert str(alice.id) in (str(event.actor_id), str(event.target_id))
    assert alice.email not in json.dumps([list(map(str, event)) for event in events])
    # At least once: a second delivery of the erasure changes nothing and fails nothing.
    runner = app.state.container.job_runner()
    payload = json.dumps({"user_id": alice.id, "email": alice.email, "event_id": str(uuid.uuid4())})
    for task in runner.tasks.owned_by(["users", "auth", "items", "audit"]):
        if task.startswith("users.deleted:"):
            await runner.run(task, payload.encode())


async def test_an_erasure_queued_by_an_earlier_release_still_runs(
    app: FastAPI, connection: AsyncConnection
) -> None:
    """Queued before the upgrade: under items' old subscriber's name, without the address."""
    gone = uuid.uuid4()
    await connection.execute(
        text(
            "INSERT INTO item_idempotency_keys (owner_id, key, request_hash, created_at)"
            " VALUES (:id, 'k', 'h', now())"
        ),
        {"id": gone},
    )
    runner = app.state.container.job_runner()
    old = json.dumps({"user_id": str(gone), "event_id": str(uuid.uuid4())}).encode()
    await runner.run("users.deleted:items.forget_idempotency_keys", old)
    left = await connection.scalar(
        text("SELECT count(*) FROM item_idempotency_keys WHERE owner_id = :id"), {"id": gone}
    )
    assert left == 0
