"""Every /api/v1/auth route and rule (README, "Auth and users"), through HTTP on real
PostgreSQL and a real SMTP server."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from devtools.local_servers.mailbox import Mailbox
from devtools.local_servers.ports import closed_port
from tests.accounts import (
    PASSWORD,
    Account,
    bearer,
    login,
    new_email,
    past_the_reuse_grace,
    register,
)
from tests.conftest import bind_to_connection, build_app, delivered, http_client, make_settings

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/jwt/login"
REFRESH = "/api/v1/auth/jwt/refresh"
LOGOUT = "/api/v1/auth/jwt/logout"
LOGOUT_ALL = "/api/v1/auth/jwt/logout-all"
SESSIONS = "/api/v1/auth/sessions"
ME = "/api/v1/users/me"


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# --- register -----------------------------------------------------------------------------


async def test_register_creates_an_account_and_never_shows_the_hash(
    client: httpx.AsyncClient,
) -> None:
    email = new_email()
    response = await client.post(
        REGISTER, json={"email": email, "password": PASSWORD, "full_name": "Ada Lovelace"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id", "email", "full_name", "is_active", "is_superuser", "is_verified", "mfa_enabled",
        "created_at", "roles",
    }  # fmt: skip
    assert (body["email"], body["full_name"]) == (email, "Ada Lovelace")
    assert (body["is_active"], body["is_superuser"], body["is_verified"]) == (True, False, False)
    assert "+00:00" in body["created_at"] or body["created_at"].endswith("Z")


async def test_register_ignores_privilege_fields(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    email = new_email()
    response = await client.post(
        REGISTER,
        json={
            "email": email,
            "password": PASSWORD,
            "is_superuser": True,
            "is_verified": True,
            "is_active": False,
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["is_superuser"], body["is_verified"], body["is_active"]) == (False, False, True)
    stored = await connection.execute(
        text("SELECT is_superuser, is_verified, is_active FROM users WHERE email = :e"),
        {"e": email},
    )
    assert tuple(stored.one()) == (False, False, True)


@pytest.mark.parametrize("spelling", [str.lower, str.upper])
async def test_register_an_existing_email_is_409_in_any_case(
    client: httpx.AsyncClient, alice: Account, spelling: Callable[[str], str]
) -> None:
    response = await client.post(
        REGISTER, json={"email": spelling(alice.email), "password": PASSWORD}
    )
    assert response.status_code == 409
    assert error_code(response) == "REGISTER_USER_ALREADY_EXISTS"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "8 to 128"),
        ("x" * 129, "8 to 128"),
        (None, "e-mail"),
        ("iloveyou", "too common"),
        ("Football1", "too common"),  # the list is compared case-insensitively
    ],
    ids=["too-short", "too-long", "contains-email", "common", "common-other-case"],
)
async def test_register_refuses_a_weak_password_with_the_reason(
    client: httpx.AsyncClient, password: str | None, reason: str
) -> None:
    email = new_email()
    response = await client.post(
        REGISTER, json={"email": email, "password": password or f"my {email.upper()} pw"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "REGISTER_INVALID_PASSWORD"
    assert reason in error["detail"]


@pytest.mark.parametrize(
    "body", [{"email": "not-an-email", "password": PASSWORD}, {"email": "a@example.com"}, {}]
)
async def test_register_malformed_is_422(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 422
    assert error_code(response) == "VALIDATION_ERROR"


# --- login --------------------------------------------------------------------------------


async def test_login_returns_a_token_pair(client: httpx.AsyncClient, alice: Account) -> None:
    tokens = await login(client, alice.email.upper())  # e-mails match in any case
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("bearer", 15 * 60)
    me = await client.get(ME, headers=bearer(tokens["access_token"]))
    assert me.json()["email"] == alice.email


@pytest.mark.parametrize("who", ["wrong-password", "unknown-email"])
async def test_login_with_bad_credentials_is_400(
    client: httpx.AsyncClient, alice: Account, who: str
) -> None:
    username = alice.email if who == "wrong-password" else new_email()
    password = "wrong-password-123" if who == "wrong-password" else PASSWORD
    response = await client.post(LOGIN, data={"username": username, "password": password})
    assert response.status_code == 400
    assert error_code(response) == "LOGIN_BAD_CREDENTIALS"


async def test_login_of_an_inactive_user_is_bad_credentials(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await connection.execute(
        text("UPDATE users SET is_active = false WHERE id = :id"), {"id": alice.id}
    )
    response = await client.post(LOGIN, data={"username": alice.email, "password": PASSWORD})
    assert response.status_code == 400
    assert error_code(response) == "LOGIN_BAD_CREDENTIALS"


async def test_login_requires_verification_only_when_the_setting_says_so(
    app_factory: Callable[..., FastAPI], connection: AsyncConnection, client: httpx.AsyncClient
) -> None:
    from tests.conftest import bind_to_connection

    email = new_email()
    await register(client, email)  # not verified; logs in fine with the default settings
    await login(client, email)
    strict = app_factory(require_verified_login=True)
    bind_to_connection(strict, connection)
    async with http_client(strict) as strict_client:
        response = await strict_client.post(LOGIN, data={"username": email, "password": PASSWORD})
    assert response.status_code == 400
    assert error_code(response) == "LOGIN_USER_NOT_VERIFIED"


async def test_login_malformed_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, data={"username": "someone@example.com"})
    assert response.status_code == 422


async def test_an_overlong_username_is_422_and_recorded_nowhere(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    username = "x" * 309 + "@example.com"  # 321 characters: one past an e-mail's longest
    response = await client.post(LOGIN, data={"username": username, "password": PASSWORD})
    assert (response.status_code, error_code(response)) == (422, "VALIDATION_ERROR")
    recorded = await connection.execute(
        text("SELECT count(*) FROM audit_events WHERE details::text LIKE :u"),
        {"u": f"%{username[:100]}%"},
    )
    assert recorded.scalar_one() == 0
    longest = "x" * 308 + "@example.com"  # 320: still a wrong password, not a bad form
    response = await client.post(LOGIN, data={"username": longest, "password": PASSWORD})
    assert (response.status_code, error_code(response)) == (400, "LOGIN_BAD_CREDENTIALS")


# --- refresh ------------------------------------------------------------------------------


async def test_refresh_rotates_the_pair_and_uses_up_the_old_token(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(REFRESH, json={"refresh_token": alice.tokens["refresh_token"]})
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh_token"] != alice.tokens["refresh_token"]
    assert (await client.get(ME, headers=bearer(rotated["access_token"]))).status_code == 200
    again = await client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 200


async def test_a_refresh_token_reused_after_the_grace_revokes_the_whole_family(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    stolen = alice.tokens["refresh_token"]
    victim = (await client.post(REFRESH, json={"refresh_token": stolen})).json()
    await past_the_reuse_grace(connection)

    thief = await client.post(REFRESH, json={"refresh_token": stolen})
    assert thief.status_code == 401
    assert error_code(thief) == "REFRESH_TOKEN_REUSED"
    assert thief.headers["www-authenticate"] == "Bearer"

    # The victim's newer tokens of that session are dead too: refresh and access alike.
    late = await client.post(REFRESH, json={"refresh_token": victim["refresh_token"]})
    assert error_code(late) == "REFRESH_TOKEN_INVALID"
    assert (await client.get(ME, headers=bearer(victim["access_token"]))).status_code == 401


async def test_a_refresh_token_reused_within_the_grace_gets_a_pair_of_the_same_session(
    client: httpx.AsyncClient, alice: Account
) -> None:
    token = alice.tokens["refresh_token"]
    first = (await client.post(REFRESH, json={"refresh_token": token})).json()
    again = await client.post(REFRESH, json={"refresh_token": token})  # the other tab
    assert again.status_code == 200
    second = again.json()
    assert second["refresh_token"] != first["refresh_token"]
    # Both tabs go on in the one session: their access tokens work, and each new refresh
    # token rotates once more.
    seen_by = [
        (await client.get("/api/v1/auth/sessions", headers=bearer(pair["access_token"]))).json()
        for pair in (first, second)
    ]
    assert len(seen_by[0]["data"]) == 1
    assert seen_by[0]["data"][0]["id"] == seen_by[1]["data"][0]["id"]
    for pair in (first, second):
        assert (await client.get(ME, headers=bearer(pair["access_token"]))).status_code == 200
        rotated = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        assert rotated.status_code == 200


async def test_the_grace_does_not_revive_an_ended_session(
    client: httpx.AsyncClient, alice: Account
) -> None:
    token = alice.tokens["refresh_token"]
    rotated = (await client.post(REFRESH, json={"refresh_token": token})).json()
    assert (await client.post(LOGOUT, headers=bearer(rotated["access_token"]))).status_code == 204
    again = await client.post(REFRESH, json={"refresh_token": token})
    assert error_code(again) == "REFRESH_TOKEN_INVALID"


async def test_a_grace_of_0_revokes_on_the_first_reuse(
    database_url: URL, mailbox: Mailbox, connection: AsyncConnection
) -> None:
    app = build_app(make_settings(database_url, mailbox, refresh_reuse_grace_seconds=0))
    bind_to_connection(app, connection)
    async with app.router.lifespan_context(app), http_client(app) as client:
        email = new_email()
        await register(client, email)
        token = (await login(client, email))["refresh_token"]
        assert (await client.post(REFRESH, json={"refresh_token": token})).status_code == 200
        again = await client.post(REFRESH, json={"refresh_token": token})
        assert error_code(again) == "REFRESH_TOKEN_REUSED"


async def test_reuse_in_one_session_leaves_the_users_other_sessions_alone(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    other = await login(client, alice.email)
    await client.post(REFRESH, json={"refresh_token": alice.tokens["refresh_token"]})
    await past_the_reuse_grace(connection)
    reused = await client.post(REFRESH, json={"refresh_token": alice.tokens["refresh_token"]})
    assert error_code(reused) == "REFRESH_TOKEN_REUSED"
    assert (await client.get(ME, headers=bearer(other["access_token"]))).status_code == 200
    assert (await client.get(ME, headers=alice.headers)).status_code == 401


@pytest.mark.parametrize("token", ["garbage", "", "x" * 512])
async def test_an_unknown_refresh_token_is_401_invalid(
    client: httpx.AsyncClient, token: str
) -> None:
    response = await client.post(REFRESH, json={"refresh_token": token})
    assert response.status_code == 401
    assert error_code(response) == "REFRESH_TOKEN_INVALID"


async def test_an_expired_refresh_token_is_401_invalid(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await connection.execute(text("UPDATE refresh_tokens SET expires_at = now() - interval '1 s'"))
    response = await client.post(REFRESH, json={"refresh_token": alice.tokens["refresh_token"]})
    assert error_code(response) == "REFRESH_TOKEN_INVALID"


async def test_refreshing_never_takes_a_session_past_session_max_days(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    # Logged in 30 days less an hour ago (SESSION_MAX_DAYS is 30): a refresh gives the
    # session its last hour, not another REFRESH_TOKEN_EXPIRE_DAYS.
    await connection.execute(
        text(
            "UPDATE auth_sessions SET created_at = now() - interval '30 days' + interval '1 hour'"
            " WHERE user_id = :u"
        ),
        {"u": alice.id},
    )
    response = await client.post(REFRESH, json={"refresh_token": alice.tokens["refresh_token"]})
    assert response.status_code == 200
    sessions = await client.get(SESSIONS, headers=bearer(response.json()["access_token"]))
    (only,) = sessions.json()["data"]
    expires_at = datetime.fromisoformat(only["expires_at"])
    assert expires_at <= datetime.fromisoformat(only["created_at"]) + timedelta(days=30)
    assert expires_at - datetime.now(UTC) < timedelta(hours=1)

    # An hour on, the session is over: the next refresh is refused.
    await connection.execute(
        text(
            "UPDATE auth_sessions SET created_at = created_at - interval '1 hour'"
            " WHERE user_id = :u"
        ),
        {"u": alice.id},
    )
    again = await client.post(REFRESH, json={"refresh_token": response.json()["refresh_token"]})
    assert (again.status_code, error_code(again)) == (401, "REFRESH_TOKEN_INVALID")


async def test_refresh_after_logout_or_deactivation_is_401_invalid(
    client: httpx.AsyncClient, alice: Account, bob: Account, connection: AsyncConnection
) -> None:
    assert (await client.post(LOGOUT, headers=alice.headers)).status_code == 204
    response = await client.post(REFRESH, json={"refresh_token": alice.tokens["refresh_token"]})
    assert error_code(response) == "REFRESH_TOKEN_INVALID"

    await connection.execute(
        text("UPDATE users SET is_active = false WHERE id = :id"), {"id": bob.id}
    )
    response = await client.post(REFRESH, json={"refresh_token": bob.tokens["refresh_token"]})
    assert error_code(response) == "REFRESH_TOKEN_INVALID"


async def test_refresh_malformed_is_422(client: httpx.AsyncClient) -> None:
    assert (await client.post(REFRESH, json={})).status_code == 422


# --- logout -------------------------------------------------------------------------------


async def test_logout_ends_this_session_only(client: httpx.AsyncClient, alice: Account) -> None:
    other = await login(client, alice.email)
    assert (await client.post(LOGOUT, headers=alice.headers)).status_code == 204
    assert (await client.get(ME, headers=alice.headers)).status_code == 401
    assert (await client.get(ME, headers=bearer(other["access_token"]))).status_code == 200


async def test_logout_all_ends_every_session(client: httpx.AsyncClient, alice: Account) -> None:
    other = await login(client, alice.email)
    assert (await client.post(LOGOUT_ALL, headers=alice.headers)).status_code == 204
    for tokens in (alice.tokens, other):
        assert (await client.get(ME, headers=bearer(tokens["access_token"]))).status_code == 401
        refreshed = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 401


@pytest.mark.parametrize("path", [LOGOUT, LOGOUT_ALL])
async def test_logout_without_a_token_is_401(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_code(response) == "UNAUTHORIZED"


# --- forgot and reset password ------------------------------------------------------------


async def test_forgot_password_mails_a_reset_link(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    alice: Account,
    mailbox: Mailbox,
) -> None:
    response = await client.post("/api/v1/auth/forgot-password", json={"email": alice.email})
    assert response.status_code == 202
    await delivered(app, connection)
    [message] = mailbox.to(alice.email)
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "https://app.example.com/reset-password?token=" in body.decode()


async def test_forgot_password_for_an_unknown_email_is_202_and_sends_nothing(
    app: FastAPI, connection: AsyncConnection, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    email = new_email()
    response = await client.post("/api/v1/auth/forgot-password", json={"email": email})
    assert response.status_code == 202
    await delivered(app, connection)
    assert mailbox.messages == []


async def test_forgot_password_is_202_even_when_the_mail_server_is_down(
    app_factory: Callable[..., FastAPI], connection: AsyncConnection, client: httpx.AsyncClient
) -> None:
    from tests.conftest import bind_to_connection

    email = new_email()
    await register(client, email)
    broken = app_factory(smtp_port=closed_port())
    bind_to_connection(broken, connection)
    async with http_client(broken) as broken_client:
        response = await broken_client.post("/api/v1/auth/forgot-password", json={"email": email})
    assert response.status_code == 202  # the e-mail is a job: the mail server is not asked
    queued = await connection.execute(
        text("SELECT headers->>'task' FROM pgqueuer WHERE status = 'queued'")
    )
    assert "email.send" in queued.scalars().all()


async def test_forgot_password_malformed_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/forgot-password", json={"email": "nope"})
    assert response.status_code == 422


async def reset_token(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    email: str,
) -> str:
    await client.post("/api/v1/auth/forgot-password", json={"email": email})
    await delivered(app, connection)
    return mailbox.token_sent_to(email, "reset-password")


async def test_reset_password_sets_the_password_and_revokes_every_session(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    alice: Account,
    mailbox: Mailbox,
) -> None:
    token = await reset_token(app, connection, client, mailbox, alice.email)
    response = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "a-brand-new-secret"}
    )
    assert response.status_code == 200
    assert (await client.get(ME, headers=alice.headers)).status_code == 401
    old = await client.post(LOGIN, data={"username": alice.email, "password": PASSWORD})
    assert error_code(old) == "LOGIN_BAD_CREDENTIALS"
    await login(client, alice.email, "a-brand-new-secret")
    # The token was tied to the old password: it cannot be used twice.
    again = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "yet-another-secret"}
    )
    assert error_code(again) == "RESET_PASSWORD_BAD_TOKEN"


async def test_reset_password_with_a_bad_token_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/reset-password", json={"token": "not-a-token", "password": PASSWORD}
    )
    assert response.status_code == 400
    assert error_code(response) == "RESET_PASSWORD_BAD_TOKEN"


async def test_reset_password_with_a_weak_password_is_400(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    alice: Account,
    mailbox: Mailbox,
) -> None:
    token = await reset_token(app, connection, client, mailbox, alice.email)
    for weak, reason in (("short", "8 to 128"), ("qwertyuiop", "too common")):
        response = await client.post(
            "/api/v1/auth/reset-password", json={"token": token, "password": weak}
        )
        assert response.status_code == 400
        assert error_code(response) == "RESET_PASSWORD_INVALID_PASSWORD"
        assert reason in response.json()["error"]["detail"]


# --- verification -------------------------------------------------------------------------


async def verify_token(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    email: str,
) -> str:
    response = await client.post("/api/v1/auth/request-verify-token", json={"email": email})
    assert response.status_code == 202
    await delivered(app, connection)
    return mailbox.token_sent_to(email, "verify")


async def test_verify_marks_the_user_verified_once(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    alice: Account,
    mailbox: Mailbox,
) -> None:
    token = await verify_token(app, connection, client, mailbox, alice.email)
    response = await client.post("/api/v1/auth/verify", json={"token": token})
    assert response.status_code == 200
    assert response.json()["is_verified"] is True
    again = await client.post("/api/v1/auth/verify", json={"token": token})
    assert again.status_code == 400
    assert error_code(again) == "VERIFY_USER_ALREADY_VERIFIED"


async def test_verify_with_a_bad_token_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/verify", json={"token": "not-a-token"})
    assert response.status_code == 400
    assert error_code(response) == "VERIFY_USER_BAD_TOKEN"


async def test_request_verify_token_for_an_unknown_email_is_202_and_sends_nothing(
    app: FastAPI, connection: AsyncConnection, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    response = await client.post("/api/v1/auth/request-verify-token", json={"email": new_email()})
    assert response.status_code == 202
    await delivered(app, connection)
    assert mailbox.messages == []


@pytest.mark.parametrize("path", ["/api/v1/auth/request-verify-token", "/api/v1/auth/verify"])
async def test_verification_malformed_is_422(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.post(path, json={})).status_code == 422
