"""Permissions: what a caller may do, declared by the module whose routes need them.

A module lists its `Permission`s in its `Module` record (`module.py`), and a route that needs
one takes its caller as `Annotated[Caller, permitted(ITEMS_WRITE)]`. That one declaration is
both the check (FastAPI hands the scopes to `authorize`) and the schema: FastAPI writes the
scopes into the operation's `security` requirement, from which `x-permissions` is read.

Nothing here is edited when a module is added: `create_app` builds the catalog from every
module's declarations and refuses to start when a route needs an undeclared one.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Security
from fastapi.security import SecurityScopes

from ..errors import BadRequest, Forbidden
from .auth import Caller, authenticate

# `module:verb`, lower case: what roles and API-key scopes are made of.
PERMISSION_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    description: str
    # Held by every active user, with or without a role (the members' defaults).
    members: bool = False

    @property
    def module(self) -> str:
        return self.name.partition(":")[0]


class PermissionCatalog:
    """Every declared permission, and what a caller holds of them."""

    def __init__(self, declared: Iterable[tuple[str, Iterable[Permission]]]) -> None:
        by_name: dict[str, Permission] = {}
        for module, permissions in declared:
            for permission in permissions:
                if not PERMISSION_NAME.match(permission.name) or permission.module != module:
                    raise ValueError(
                        f"module {module!r} declares {permission.name!r}: a permission is "
                        f"named '{module}:<verb>' in lower case"
                    )
                if permission.name in by_name:
                    raise ValueError(f"permission {permission.name!r} is declared twice")
                by_name[permission.name] = permission
        self.permissions = tuple(sorted(by_name.values(), key=lambda p: p.name))
        self.names = frozenset(by_name)
        self.member_defaults = frozenset(p.name for p in self.permissions if p.members)

    def declared(self, names: Iterable[str]) -> list[str]:
        """`names`, sorted and unique, if every one is declared (400 naming the others)."""
        if unknown := sorted(set(names) - self.names):
            raise UnknownPermission(unknown)
        return sorted(set(names))

    def held(
        self, *, is_superuser: bool, from_roles: Iterable[str], scopes: Iterable[str] | None = None
    ) -> frozenset[str]:
        """What a caller holds: a superuser every permission, anyone else the members'
        defaults and their roles'; for an API key, only those also in its scopes. A name no
        module declares any more (a role kept after its module left) grants nothing."""
        held = (
            self.names
            if is_superuser
            else self.member_defaults | self.names.intersection(from_roles)
        )
        return held if scopes is None else held.intersection(scopes)


class UnknownPermission(BadRequest):
    code = "UNKNOWN_PERMISSION"

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"No module declares the permission {', '.join(names)}")


class MissingPermission(Forbidden):
    def __init__(self, permission: str) -> None:
        super().__init__(f"Needs the permission {permission}")


async def authorize(
    security_scopes: SecurityScopes, caller: Annotated[Caller, Depends(authenticate)]
) -> Caller:
    """The caller, if they hold every permission the route asks for (403 naming the first
    missing one otherwise)."""
    for permission in security_scopes.scopes:
        if permission not in caller.permissions:
            raise MissingPermission(permission)
    return caller


def permitted(permission: Permission) -> Any:
    """A route's caller who holds `permission`: `caller: Annotated[Caller, permitted(X)]`."""
    return Security(authorize, scopes=[permission.name])


def permissions_in_schema(operation: dict[str, Any]) -> list[str]:
    """The permissions an operation of the OpenAPI schema needs: the scopes of its security
    requirements, which FastAPI writes from the routes' `permitted(...)`."""
    requirements: list[dict[str, list[str]]] = operation.get("security", [])
    return sorted({scope for r in requirements for scopes in r.values() for scope in scopes})
