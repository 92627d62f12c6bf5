"""Every /api/v1/users route and rule (README, "Auth and users"), through HTTP on real
PostgreSQL."""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.accounts import PASSWORD, Account, bearer, create_account, login, register

ME = "/api/v1/users/me"
USERS = "/api/v1/users"


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# --- /me ----------------------------------------------------------------------------------


async def test_get_me_shows_the_caller(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get(ME, headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["email"]) == (alice.id, alice.email)
    assert "hashed_password" not in body


async def test_patch_me_changes_the_full_name_without_a_password(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.patch(ME, headers=alice.headers, json={"full_name": "Alice A."})
    assert response.status_code == 200
    assert response.json()["full_name"] == "Alice A."


async def test_patch_me_ignores_privilege_fields(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.patch(
        ME,
        headers=alice.headers,
        json={"is_superuser": True, "is_verified": True, "is_active": False},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["is_superuser"], body["is_verified"], body["is_active"]) == (False, False, True)


@pytest.mark.parametrize("current_password", [None, "not-my-password"])
@pytest.mark.parametrize("change", [{"email": "new@example.com"}, {"password": "a-new-secret"}])
async def test_patch_me_needs_the_current_password_for_email_or_password(
    client: httpx.AsyncClient,
    alice: Account,
    change: dict[str, str],
    current_password: str | None,
) -> None:
    body = change | ({"current_password": current_password} if current_password else {})
    response = await client.patch(ME, headers=alice.headers, json=body)
    assert response.status_code == 400
    assert error_code(response) == "INVALID_CURRENT_PASSWORD"


async def test_patch_me_new_email_must_be_verified_again(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await connection.execute(
        text("UPDATE users SET is_verified = true WHERE id = :id"), {"id": alice.id}
    )
    new_email = f"renamed-{uuid.uuid4().hex[:6]}@example.com"
    response = await client.patch(
        ME, headers=alice.headers, json={"email": new_email, "current_password": PASSWORD}
    )
    assert response.status_code == 200
    assert (response.json()["email"], response.json()["is_verified"]) == (new_email, False)
    await login(client, new_email)


async def test_patch_me_the_same_email_in_another_case_is_not_a_conflict(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.patch(
        ME, headers=alice.headers, json={"email": alice.email.upper(), "current_password": PASSWORD}
    )
    assert response.status_code == 200


async def test_patch_me_to_someone_elses_email_is_409(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    response = await client.patch(
        ME, headers=alice.headers, json={"email": bob.email.upper(), "current_password": PASSWORD}
    )
    assert response.status_code == 409
    assert error_code(response) == "UPDATE_USER_EMAIL_ALREADY_EXISTS"


async def test_patch_me_weak_password_is_400(client: httpx.AsyncClient, alice: Account) -> None:
    for weak, reason in (("short", "8 to 128"), ("SUNSHINE", "too common")):
        response = await client.patch(
            ME, headers=alice.headers, json={"password": weak, "current_password": PASSWORD}
        )
        assert response.status_code == 400
        assert error_code(response) == "UPDATE_USER_INVALID_PASSWORD"
        assert reason in response.json()["error"]["detail"]


async def test_patch_me_password_ends_every_other_session_but_the_callers(
    client: httpx.AsyncClient, alice: Account
) -> None:
    elsewhere = await login(client, alice.email)
    response = await client.patch(
        ME, headers=alice.headers, json={"password": "a-new-secret", "current_password": PASSWORD}
    )
    assert response.status_code == 200
    assert (await client.get(ME, headers=alice.headers)).status_code == 200
    assert (await client.get(ME, headers=bearer(elsewhere["access_token"]))).status_code == 401
    await login(client, alice.email, "a-new-secret")


async def test_null_clears_the_full_name_and_is_refused_for_required_fields(
    client: httpx.AsyncClient, alice: Account, admin: Account
) -> None:
    await client.patch(ME, headers=alice.headers, json={"full_name": "Alice"})
    cleared = await client.patch(ME, headers=alice.headers, json={"full_name": None})
    assert (cleared.status_code, cleared.json()["full_name"]) == (200, None)

    refused = await client.patch(ME, headers=alice.headers, json={"email": None, "password": None})
    assert refused.status_code == 422
    assert {f["loc"] for f in error_of(refused)["fields"]} == {"body.email", "body.password"}
    refused = await client.patch(
        f"{USERS}/{alice.id}",
        headers=admin.headers,
        json={"is_active": None, "is_superuser": None, "email": None},
    )
    assert refused.status_code == 422
    assert {f["loc"] for f in error_of(refused)["fields"]} == {
        "body.is_active",
        "body.is_superuser",
        "body.email",
    }
    unchanged = (await client.get(ME, headers=alice.headers)).json()
    assert (unchanged["email"], unchanged["is_active"]) == (alice.email, True)


async def test_patch_me_malformed_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.patch(ME, headers=alice.headers, json={"email": "not-an-email"})
    assert response.status_code == 422


async def test_delete_me_removes_the_account_and_its_sessions(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    assert (await client.delete(ME, headers=alice.headers)).status_code == 204
    assert (await client.get(ME, headers=alice.headers)).status_code == 401
    remaining = await connection.execute(
        text("SELECT count(*) FROM auth_sessions WHERE user_id = :id"), {"id": alice.id}
    )
    assert remaining.scalar_one() == 0
    response = await client.post(
        "/api/v1/auth/jwt/login", data={"username": alice.email, "password": PASSWORD}
    )
    assert error_code(response) == "LOGIN_BAD_CREDENTIALS"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_me_without_a_token_is_401(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, ME, json={} if method == "PATCH" else None)
    assert response.status_code == 401


# --- superuser routes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", USERS), ("GET", "/{id}"), ("PATCH", "/{id}"), ("DELETE", "/{id}")],
)
async def test_superuser_routes_are_403_for_others(
    client: httpx.AsyncClient, alice: Account, bob: Account, method: str, path: str
) -> None:
    url = USERS if path == USERS else f"{USERS}/{bob.id}"
    response = await client.request(
        method, url, headers=alice.headers, json={} if method == "PATCH" else None
    )
    assert response.status_code == 403
    assert error_code(response) == "FORBIDDEN"


async def test_list_pages_through_every_user_once_in_creation_order(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = [
        await register(client, f"page-{i}-{uuid.uuid4().hex[:6]}@example.com") for i in range(7)
    ]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(USERS, headers=admin.headers, params=params)
        assert response.status_code == 200
        page = response.json()
        assert len(page["data"]) <= 3
        seen += [user["id"] for user in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [admin.id, *created]


async def test_list_filters_by_email_substring_in_any_case_and_literally(
    client: httpx.AsyncClient, admin: Account
) -> None:
    tag = uuid.uuid4().hex[:6]
    wanted = await register(client, f"Needle_{tag}@example.com")
    await register(client, f"needleX{tag}@example.com")  # `_` must not act as a wildcard
    response = await client.get(USERS, headers=admin.headers, params={"email": f"NEEDLE_{tag}"})
    assert [user["id"] for user in response.json()["data"]] == [wanted]
    percent = await client.get(USERS, headers=admin.headers, params={"email": "%"})
    assert percent.json()["data"] == []


@pytest.mark.parametrize("limit", [0, 101, "many"])
async def test_list_limit_out_of_range_is_422(
    client: httpx.AsyncClient, admin: Account, limit: int | str
) -> None:
    response = await client.get(USERS, headers=admin.headers, params={"limit": limit})
    assert response.status_code == 422


@pytest.mark.parametrize("cursor", ["garbage", "eyJhIjoxfQ", "A" * 40])
async def test_list_with_a_tampered_cursor_is_400(
    client: httpx.AsyncClient, admin: Account, cursor: str
) -> None:
    response = await client.get(USERS, headers=admin.headers, params={"cursor": cursor})
    assert response.status_code == 400
    assert error_code(response) == "INVALID_CURSOR"


async def test_get_user_by_id(client: httpx.AsyncClient, admin: Account, bob: Account) -> None:
    response = await client.get(f"{USERS}/{bob.id}", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["email"] == bob.email


@pytest.mark.parametrize("user_id", [str(uuid.uuid4()), "not-a-uuid"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_an_unknown_or_malformed_user_id_is_404(
    client: httpx.AsyncClient, admin: Account, user_id: str, method: str
) -> None:
    response = await client.request(
        method, f"{USERS}/{user_id}", headers=admin.headers, json={} if method == "PATCH" else None
    )
    assert response.status_code == 404
    assert error_code(response) == "USER_NOT_FOUND"


async def test_superuser_may_set_privilege_fields(
    client: httpx.AsyncClient, admin: Account, bob: Account
) -> None:
    response = await client.patch(
        f"{USERS}/{bob.id}", headers=admin.headers, json={"is_verified": True, "is_superuser": True}
    )
    assert response.status_code == 200
    assert (response.json()["is_verified"], response.json()["is_superuser"]) == (True, True)


async def test_deactivating_a_user_ends_their_sessions_at_once(
    client: httpx.AsyncClient, admin: Account, bob: Account
) -> None:
    response = await client.patch(
        f"{USERS}/{bob.id}", headers=admin.headers, json={"is_active": False}
    )
    assert response.status_code == 200
    assert (await client.get(ME, headers=bob.headers)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/jwt/refresh", json={"refresh_token": bob.tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_delete_user(client: httpx.AsyncClient, admin: Account, bob: Account) -> None:
    assert (await client.delete(f"{USERS}/{bob.id}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"{USERS}/{bob.id}", headers=admin.headers)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/{id}", {"is_superuser": False}),
        ("PATCH", "/{id}", {"is_active": False}),
        ("DELETE", "/{id}", None),
        ("DELETE", "/me", None),
    ],
)
async def test_the_last_active_superuser_cannot_remove_themself(
    client: httpx.AsyncClient,
    admin: Account,
    method: str,
    path: str,
    body: dict[str, bool] | None,
) -> None:
    url = ME if path == "/me" else f"{USERS}/{admin.id}"
    response = await client.request(method, url, headers=admin.headers, json=body)
    assert response.status_code == 409
    assert error_code(response) == "LAST_SUPERUSER"
    assert (await client.get(ME, headers=admin.headers)).json()["is_superuser"] is True


async def test_a_superuser_may_step_down_when_another_remains(
    client: httpx.AsyncClient, admin: Account, connection: AsyncConnection
) -> None:
    from tests.accounts import grant_superuser

    other = await create_account(client, "admin2")
    await grant_superuser(connection, other)
    response = await client.patch(
        f"{USERS}/{admin.id}", headers=admin.headers, json={"is_superuser": False}
    )
    assert response.status_code == 200
    # Now `other` is the last one.
    last = await client.patch(
        f"{USERS}/{other.id}", headers=other.headers, json={"is_superuser": False}
    )
    assert error_code(last) == "LAST_SUPERUSER"
