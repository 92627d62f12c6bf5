"""Roles and permissions (README, "Permissions and API keys"): roles managed by superusers,
given to users, effective at once for them and their keys. Through HTTP on real PostgreSQL."""

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.accounts import Account, bearer, create_api_key
from tests.auth.test_reauth import code_of

ROLES = "/api/v1/roles"
USERS = "/api/v1/users"
ME = "/api/v1/users/me"
AUDIT = "/api/v1/audit"
PERMISSIONS = "/api/v1/permissions"


async def create_role(
    client: httpx.AsyncClient, admin: Account, name: str, permissions: list[str]
) -> dict[str, Any]:
    response = await client.post(
        ROLES, headers=admin.headers, json={"name": name, "permissions": permissions}
    )
    assert response.status_code == 201, response.text
    role: dict[str, Any] = response.json()
    return role


async def give_roles(
    client: httpx.AsyncClient, admin: Account, user: Account, roles: list[str]
) -> httpx.Response:
    return await client.patch(f"{USERS}/{user.id}", headers=admin.headers, json={"roles": roles})


async def test_every_declared_permission_is_listed_to_any_caller(
    client: httpx.AsyncClient, alice: Account
) -> None:
    assert (await client.get(PERMISSIONS)).status_code == 401
    listed = (await client.get(PERMISSIONS, headers=alice.headers)).json()["data"]
    names = [p["name"] for p in listed]
    assert names == sorted(names)
    assert {"items:read", "items:write", "users:read", "users:write", "audit:read"} <= set(names)
    assert all(p["module"] == p["name"].split(":")[0] and p["description"] for p in listed)
    key = bearer((await create_api_key(client, alice, ["items:read"]))["key"])
    assert (await client.get(PERMISSIONS, headers=key)).status_code == 200


async def test_a_superuser_creates_reads_updates_and_deletes_roles(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await client.post(
        ROLES,
        headers=admin.headers,
        json={"name": "support", "description": "Reads users", "permissions": ["users:read"]},
    )
    assert created.status_code == 201
    role = created.json()
    assert created.headers["Location"] == f"{ROLES}/{role['id']}"
    assert set(role) == {"id", "name", "description", "permissions", "created_at"}
    assert (role["name"], role["description"], role["permissions"]) == (
        "support", "Reads users", ["users:read"],
    )  # fmt: skip
    await create_role(client, admin, "auditor", ["audit:read"])
    listed = (await client.get(ROLES, headers=admin.headers)).json()["data"]
    assert [r["name"] for r in listed] == ["auditor", "support"]
    assert (await client.get(f"{ROLES}/{role['id']}", headers=admin.headers)).json() == role

    patched = await client.patch(
        f"{ROLES}/{role['id']}",
        headers=admin.headers,
        json={"permissions": ["users:write", "users:read"], "description": None},
    )
    assert patched.status_code == 200
    assert patched.json()["permissions"] == ["users:read", "users:write"]
    assert patched.json()["description"] is None
    assert patched.json()["name"] == "support"

    assert (await client.delete(f"{ROLES}/{role['id']}", headers=admin.headers)).status_code == 204
    for path in (f"{ROLES}/{role['id']}", f"{ROLES}/not-an-id"):
        missing = await client.get(path, headers=admin.headers)
        assert missing.status_code == 404
        assert code_of(missing) == "ROLE_NOT_FOUND"
    assert (await client.delete(f"{ROLES}/{role['id']}", headers=admin.headers)).status_code == 404


async def test_bad_roles_are_refused_with_nothing_written(
    client: httpx.AsyncClient, admin: Account, connection: AsyncConnection
) -> None:
    unknown = await client.post(
        ROLES, headers=admin.headers, json={"name": "x", "permissions": ["items:fly"]}
    )
    assert unknown.status_code == 400
    assert code_of(unknown) == "UNKNOWN_PERMISSION"
    assert "items:fly" in unknown.json()["error"]["detail"]
    for name in ("Upper", "with space", "", "x" * 51):
        bad = await client.post(
            ROLES, headers=admin.headers, json={"name": name, "permissions": []}
        )
        assert bad.status_code == 422, name
    first = await create_role(client, admin, "first", [])
    await create_role(client, admin, "second", [])
    taken = await client.post(
        ROLES, headers=admin.headers, json={"name": "first", "permissions": []}
    )
    assert taken.status_code == 409
    assert code_of(taken) == "ROLE_ALREADY_EXISTS"
    renamed = await client.patch(
        f"{ROLES}/{first['id']}", headers=admin.headers, json={"name": "second"}
    )
    assert renamed.status_code == 409
    assert code_of(renamed) == "ROLE_ALREADY_EXISTS"
    patched_unknown = await client.patch(
        f"{ROLES}/{first['id']}", headers=admin.headers, json={"permissions": ["nope:x"]}
    )
    assert patched_unknown.status_code == 400
    names = await connection.execute(text("SELECT name, permissions FROM roles ORDER BY name"))
    assert [tuple(row) for row in names] == [("first", []), ("second", [])]


async def test_only_superusers_in_a_session_manage_roles(
    client: httpx.AsyncClient, admin: Account, alice: Account, connection: AsyncConnection
) -> None:
    role = await create_role(client, admin, "support", ["users:read", "users:write"])
    assert (await give_roles(client, admin, alice, ["support"])).status_code == 200
    admins_key = bearer((await create_api_key(client, admin, ["users:read", "users:write"]))["key"])
    for who in (alice.headers, admins_key):
        for method, path, body in (
            ("POST", ROLES, {"name": "x", "permissions": []}),
            ("GET", ROLES, None),
            ("GET", f"{ROLES}/{role['id']}", None),
            ("PATCH", f"{ROLES}/{role['id']}", {"name": "y"}),
            ("DELETE", f"{ROLES}/{role['id']}", None),
        ):
            response = await client.request(method, path, headers=who, json=body)
            assert response.status_code == 403, (method, path)
    assert (await client.get(ROLES)).status_code == 401
    count = await connection.execute(text("SELECT count(*) FROM roles"))
    assert count.scalar_one() == 1


async def test_roles_are_given_by_superusers_and_shown_on_the_user(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    await create_role(client, admin, "support", ["users:read"])
    await create_role(client, admin, "auditor", ["audit:read"])
    given = await give_roles(client, admin, alice, ["support", "auditor", "support"])
    assert given.status_code == 200
    assert given.json()["roles"] == ["auditor", "support"]
    unknown = await give_roles(client, admin, alice, ["support", "ghost"])
    assert unknown.status_code == 400
    assert code_of(unknown) == "UNKNOWN_ROLE"
    assert "ghost" in unknown.json()["error"]["detail"]
    me = (await client.get(ME, headers=alice.headers)).json()
    assert me["roles"] == ["auditor", "support"]  # the refused change left them as they were
    assert me["permissions"] == ["audit:read", "items:read", "items:write", "users:read"]
    listed = (await client.get(USERS, headers=alice.headers, params={"email": alice.email})).json()
    assert listed["data"][0]["roles"] == ["auditor", "support"]
    assert (await give_roles(client, admin, alice, [])).json()["roles"] == []


async def test_a_role_taken_away_is_taken_from_the_keys_at_once(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    role = await create_role(client, admin, "support", ["users:read"])
    assert (await client.get(USERS, headers=alice.headers)).status_code == 403
    await give_roles(client, admin, alice, ["support"])
    key = bearer((await create_api_key(client, alice, ["users:read", "items:read"]))["key"])
    assert (await client.get(USERS, headers=alice.headers)).status_code == 200
    assert (await client.get(USERS, headers=key)).status_code == 200

    await give_roles(client, admin, alice, [])  # the role taken from the user
    for who in (alice.headers, key):
        refused = await client.get(USERS, headers=who)
        assert refused.status_code == 403
        assert "users:read" in refused.json()["error"]["detail"]
    assert (await client.get(ME, headers=key)).json()["permissions"] == ["items:read"]

    await give_roles(client, admin, alice, ["support"])
    assert (await client.get(USERS, headers=key)).status_code == 200
    await client.patch(f"{ROLES}/{role['id']}", headers=admin.headers, json={"permissions": []})
    assert (await client.get(USERS, headers=key)).status_code == 403  # the role changed

    await client.patch(
        f"{ROLES}/{role['id']}", headers=admin.headers, json={"permissions": ["users:read"]}
    )
    assert (await client.get(USERS, headers=key)).status_code == 200
    await client.delete(f"{ROLES}/{role['id']}", headers=admin.headers)
    assert (await client.get(USERS, headers=key)).status_code == 403  # the role deleted


async def test_a_users_write_holder_cannot_touch_a_superuser_or_grant_privileges(
    client: httpx.AsyncClient, admin: Account, alice: Account, bob: Account
) -> None:
    await create_role(client, admin, "support", ["users:read", "users:write"])
    await give_roles(client, admin, alice, ["support"])
    # Another member's account: yes.
    changed = await client.patch(
        f"{USERS}/{bob.id}", headers=alice.headers, json={"full_name": "Robert"}
    )
    assert changed.status_code == 200
    assert changed.json()["full_name"] == "Robert"
    # What only a superuser may do: no, on anyone, themself included.
    for target, body in (
        (bob, {"is_superuser": True}),
        (bob, {"roles": ["support"]}),
        (bob, {"mfa_enabled": False}),
        (alice, {"is_superuser": True}),
        (alice, {"roles": []}),
        (alice, {"password": "a-new-passphrase-here"}),  # /users/me asks for the current one
        (alice, {"email": "elsewhere@example.com"}),
        (admin, {"full_name": "Not the admin"}),
        (admin, {"is_active": False}),
    ):
        refused = await client.patch(f"{USERS}/{target.id}", headers=alice.headers, json=body)
        assert refused.status_code == 403, body
    for target in (admin, alice):
        refused_delete = await client.delete(f"{USERS}/{target.id}", headers=alice.headers)
        assert refused_delete.status_code == 403
    admin_now = (await client.get(f"{USERS}/{admin.id}", headers=alice.headers)).json()
    assert admin_now["is_active"] and admin_now["full_name"] is None
    assert (await client.get(ME, headers=alice.headers)).json()["is_superuser"] is False
    assert (await client.delete(f"{USERS}/{bob.id}", headers=alice.headers)).status_code == 204


async def test_audit_read_is_what_the_audit_trail_needs(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    refused = await client.get(AUDIT, headers=alice.headers)
    assert refused.status_code == 403
    assert "audit:read" in refused.json()["error"]["detail"]
    await create_role(client, admin, "auditor", ["audit:read"])
    await give_roles(client, admin, alice, ["auditor"])
    assert (await client.get(AUDIT, headers=alice.headers)).status_code == 200


async def test_role_changes_are_audited(
    client: httpx.AsyncClient, admin: Account, alice: Account, connection: AsyncConnection
) -> None:
    role = await create_role(client, admin, "support", ["users:read"])
    await client.patch(
        f"{ROLES}/{role['id']}", headers=admin.headers, json={"permissions": ["users:write"]}
    )
    await give_roles(client, admin, alice, ["support"])
    await client.delete(f"{ROLES}/{role['id']}", headers=admin.headers)
    rows = await connection.execute(
        text(
            "SELECT action, actor_id::text, target_type, details FROM audit_events"
            " WHERE action LIKE 'roles.%' OR action = 'users.admin.updated' ORDER BY at"
        )
    )
    entries = [tuple(row) for row in rows]
    assert [(a, actor, t) for a, actor, t, _ in entries] == [
        ("roles.created", admin.id, "role"),
        ("roles.updated", admin.id, "role"),
        ("users.admin.updated", admin.id, "user"),
        ("roles.deleted", admin.id, "role"),
    ]
    assert entries[1][3] == {"name": "support", "permissions": ["users:write"]}
    assert entries[2][3]["roles"] == {"old": [], "new": ["support"]}
