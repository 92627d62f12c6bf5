"""What the account's owner and the audit trail learn (README, "Account protection"): alert
e-mails through a real SMTP server, the audit entries that name the account, and the cap on
the e-mails one address gets. Through HTTP on real PostgreSQL."""

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from devtools.local_servers.mailbox import Mailbox
from tests.accounts import PASSWORD, Account, new_email
from tests.auth.test_router import reset_token
from tests.conftest import delivered
from tests.totp import enable_two_factor

LOGIN = "/api/v1/auth/jwt/login"
FORGOT = "/api/v1/auth/forgot-password"
ME = "/api/v1/users/me"


def subjects(mailbox: Mailbox, address: str) -> list[str]:
    return [str(message["Subject"]) for message in mailbox.to(address)]


async def audit_entries(connection: AsyncConnection, action: str) -> list[dict[str, Any]]:
    rows = await connection.execute(
        text(
            "SELECT target_type, CAST(target_id AS text) AS target_id, details->>'email' AS email"
            " FROM audit_events WHERE action = :a ORDER BY at"
        ),
        {"a": action},
    )
    return [dict(row) for row in rows.mappings()]


# --- alerts --------------------------------------------------------------------------------


async def test_a_new_password_is_told_to_the_owner(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Account,
    connection: AsyncConnection,
    mailbox: Mailbox,
) -> None:
    changed = await client.patch(
        ME,
        headers=alice.headers,
        json={"password": "a-brand-new-secret", "current_password": PASSWORD},
    )
    assert changed.status_code == 200
    await delivered(app, connection)
    assert subjects(mailbox, alice.email) == ["Your password was changed"]


async def test_a_reset_password_is_told_to_the_owner(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Account,
    connection: AsyncConnection,
    mailbox: Mailbox,
) -> None:
    token = await reset_token(app, connection, client, mailbox, alice.email)
    reset = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "a-brand-new-secret"}
    )
    assert reset.status_code == 200
    await delivered(app, connection)
    assert subjects(mailbox, alice.email)[-1] == "Your password was changed"


async def test_a_new_email_is_told_to_the_old_address(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Account,
    connection: AsyncConnection,
    mailbox: Mailbox,
) -> None:
    new_address = new_email("moved")
    changed = await client.patch(
        ME, headers=alice.headers, json={"email": new_address, "current_password": PASSWORD}
    )
    assert changed.status_code == 200
    await delivered(app, connection)
    [alert] = mailbox.to(alice.email)
    assert alert["Subject"] == "Your e-mail address was changed"
    body = alert.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert new_address in body.decode()
    # A change of name alone alerts nobody.
    mailbox.messages.clear()
    await client.patch(ME, headers=alice.headers, json={"full_name": "Alice"})
    await delivered(app, connection)
    assert mailbox.messages == []


async def test_two_factor_on_and_off_is_told_to_the_owner(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Account,
    connection: AsyncConnection,
    mailbox: Mailbox,
) -> None:
    carol = await enable_two_factor(client, alice)
    disabled = await client.post(
        "/api/v1/auth/2fa/disable",
        headers=alice.headers,
        json={"current_password": PASSWORD, "code": carol.recovery_codes[0]},
    )
    assert disabled.status_code == 204
    await delivered(app, connection)
    assert subjects(mailbox, alice.email) == [
        "Two-factor login was turned on",
        "Two-factor login was turned off",
    ]


async def test_a_superuser_turning_2fa_off_or_setting_a_password_is_told_too(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Account,
    admin: Account,
    connection: AsyncConnection,
    mailbox: Mailbox,
) -> None:
    await enable_two_factor(client, alice)
    await delivered(app, connection)
    mailbox.messages.clear()
    updated = await client.patch(
        f"/api/v1/users/{alice.id}",
        headers=admin.headers,
        json={"mfa_enabled": False, "password": "a-brand-new-secret"},
    )
    assert updated.status_code == 200, updated.text
    await delivered(app, connection)
    assert sorted(subjects(mailbox, alice.email)) == [
        "Two-factor login was turned off",
        "Your password was changed",
    ]


# --- the audit trail names the account ------------------------------------------------------


async def test_failed_and_throttled_logins_and_reset_requests_name_the_account(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    nobody = new_email("nobody")
    for email in (alice.email, nobody):
        for _ in range(6):  # five failures, then a throttled attempt
            await client.post(LOGIN, data={"username": email, "password": "wrong-password"})
        await client.post(FORGOT, json={"email": email})

    for action in ("auth.login.failed", "auth.login.throttled", "auth.password.reset_requested"):
        entries = await audit_entries(connection, action)
        named = [e for e in entries if e["email"] == alice.email]
        unknown = [e for e in entries if e["email"] == nobody]
        assert named and unknown, action
        assert {(e["target_type"], e["target_id"]) for e in named} == {("user", alice.id)}
        assert {(e["target_type"], e["target_id"]) for e in unknown} == {(None, None)}


async def test_the_audit_log_finds_the_attempts_on_an_account(
    client: httpx.AsyncClient, alice: Account, admin: Account
) -> None:
    await client.post(LOGIN, data={"username": alice.email, "password": "wrong-password"})
    found = await client.get("/api/v1/audit", params={"target_id": alice.id}, headers=admin.headers)
    assert found.status_code == 200
    assert "auth.login.failed" in [entry["action"] for entry in found.json()["data"]]


# --- reset and verification e-mails per address ----------------------------------------------


async def test_an_address_gets_at_most_three_reset_or_verification_emails_an_hour(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Account,
    connection: AsyncConnection,
    mailbox: Mailbox,
) -> None:
    answers = [await client.post(FORGOT, json={"email": alice.email}) for _ in range(3)]
    answers.append(
        await client.post("/api/v1/auth/request-verify-token", json={"email": alice.email})
    )
    answers.append(await client.post(FORGOT, json={"email": alice.email.upper()}))
    assert [r.status_code for r in answers] == [202] * 5  # the answer never tells
    await delivered(app, connection)
    assert len(mailbox.to(alice.email)) == 3

    # An hour on, the address gets mail again.
    await connection.execute(
        text("UPDATE mail_quotas SET window_start = now() - interval '61 min'")
    )
    await client.post(FORGOT, json={"email": alice.email})
    await delivered(app, connection)
    assert len(mailbox.to(alice.email)) == 4
