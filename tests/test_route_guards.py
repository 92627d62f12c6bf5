"""No API route is left unguarded by oversight, and the schema's `x-permissions` are what the
server enforces, route by route (README, "Permissions and API keys")."""

import ast
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from main import MODULES
from shared.api.route import ModuleRoute
from tests.accounts import Account, bearer, create_api_key

METHODS = {"get", "post", "put", "patch", "delete"}


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1")
        for method, operation in item.items()
        if method in METHODS
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_every_api_route_says_who_may_call_it(app: FastAPI) -> None:
    """Each operation needs a permission (`x-permissions`), a login (a `security`
    requirement: `CurrentCaller` and its kin) or says it is public (`security: []`, from
    `openapi_extra=PUBLIC`). A route with none of these was left open by oversight."""
    unmarked = [
        f"{method.upper()} {path}"
        for method, path, operation in operations(app.openapi())
        if "security" not in operation
    ]
    assert unmarked == []


async def test_the_public_routes_are_the_ones_meant_to_be(app: FastAPI) -> None:
    public = sorted(
        f"{method.upper()} {path}"
        for method, path, operation in operations(app.openapi())
        if operation["security"] == []
    )
    assert public == [
        f"POST /api/v1/auth/{path}"
        for path in (
            "forgot-password", "jwt/login", "jwt/login/2fa", "jwt/refresh", "register",
            "request-verify-token", "reset-password", "verify",
        )
    ]  # fmt: skip


async def test_every_permission_a_route_needs_is_declared_by_its_module(app: FastAPI) -> None:
    schema = app.openapi()
    declared = {p.name: module.name for module in MODULES for p in module.permissions}
    needed = {
        permission
        for _, _, operation in operations(schema)
        for permission in operation.get("x-permissions", [])
    }
    assert needed <= declared.keys()
    assert {"items:read", "items:write", "users:read", "users:write", "audit:read"} <= needed
    flows = schema["components"]["securitySchemes"]["bearer"]["flows"]["password"]
    assert set(flows["scopes"]) == set(declared)


async def test_x_permissions_is_what_the_server_enforces(
    app: FastAPI, client: httpx.AsyncClient, admin: Account
) -> None:
    """For each operation that lists a permission: a key of a superuser holding every other
    permission is refused with a 403 naming it; a key holding only it is not refused for want
    of a permission. For each operation that lists none, no key is refused for want of one."""
    declared = sorted(p.name for module in MODULES for p in module.permissions)
    keys: dict[str, dict[str, str]] = {}

    async def key_for(scopes: list[str]) -> dict[str, str]:
        name = ",".join(scopes)
        if name not in keys:
            keys[name] = bearer(
                (await create_api_key(client, admin, scopes, name=name[:100]))["key"]
            )
        return keys[name]

    checked = 0
    for method, path, operation in operations(app.openapi()):
        url = concrete(path)
        body: dict[str, Any] | None = {} if "requestBody" in operation else None
        needed = operation.get("x-permissions", [])
        for permission in needed:
            without = await key_for([p for p in declared if p != permission])
            refused = await client.request(method, url, headers=without, json=body)
            assert refused.status_code == 403, (method, path)
            assert permission in refused.json()["error"]["detail"], (method, path)
            only = await key_for([permission])
            allowed = await client.request(method, url, headers=only, json=body)
            detail = allowed.json()["error"]["detail"] if allowed.status_code == 403 else ""
            assert "Needs the permission" not in detail, (method, path)
            checked += 1
        if not needed and operation["security"]:
            minimal = await key_for([declared[0]])
            answered = await client.request(method, url, headers=minimal, json=body)
            detail = answered.json()["error"]["detail"] if answered.status_code == 403 else ""
            assert "Needs the permission" not in detail, (method, path)
    assert checked >= 10  # items (5), users (4), audit (1)


def test_every_module_router_makes_module_routes() -> None:
    """`APIRouter(..., route_class=ModuleRoute)` everywhere in modules/: a read the replica
    fails under then runs again on the primary (shared/api/route.py). Read from the source:
    FastAPI keeps no public list of the routers a router includes."""
    modules = Path(__file__).resolve().parents[1] / "modules"
    without = []
    for path in sorted(modules.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "APIRouter":
                route_class = {k.arg: k.value for k in node.keywords}.get("route_class")
                if getattr(route_class, "id", None) != ModuleRoute.__name__:
                    without.append(f"{path.relative_to(modules)}:{node.lineno}")
    assert without == []
