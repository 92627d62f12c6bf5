"""Roles: named sets of declared permissions, and who holds them.

A holder's permissions are read from these tables on each request (`role_permissions_of`, in
the authenticator's one query), so a change to a role or to who holds it applies at once, to
the holder's API keys too.
"""

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.api.permissions import PermissionCatalog
from shared.errors import parse_id

from .errors import RoleAlreadyExists, RoleNotFound, UnknownRole
from .models import Role, UserRole

UNIQUE_NAME = "uq_roles_name"


def role_permissions_of(user_id: Any) -> ColumnElement[list[str]]:
    """A scalar subquery: every permission of the roles `user_id` (a column) holds, as an
    array (null without roles). Correlated, so it adds no round trip to the query it is in."""
    permissions = (
        func.unnest(col(Role.permissions))
        .table_valued("permission")
        .render_derived("held")
        .lateral()
    )
    held = (
        select(func.array_agg(permissions.c.permission))
        .select_from(UserRole)
        .join(Role, col(Role.id) == col(UserRole.role_id))
        .join(permissions, true())
        .where(col(UserRole.user_id) == user_id)
    )
    return held.scalar_subquery()


class Roles:
    def __init__(self, catalog: PermissionCatalog) -> None:
        self.catalog = catalog

    async def create(
        self, session: AsyncSession, *, name: str, description: str | None, permissions: list[str]
    ) -> Role:
        values = {
            "id": uuid.uuid4(),
            "name": name,
            "description": description,
            "permissions": self.catalog.declared(permissions),
        }
        statement = (
            insert(Role).values(values).on_conflict_do_nothing(index_elements=["name"])
        ).returning(Role)
        role: Role | None = (await session.exec(statement)).scalar_one_or_none()
        if role is None:
            raise RoleAlreadyExists
        return role

    async def by_name(self, session: AsyncSession) -> list[Role]:
        """Every role, sorted by name."""
        return list((await session.exec(select(Role).order_by(col(Role.name)))).all())

    async def get(self, session: AsyncSession, role_id: str) -> Role:
        role = await session.get(Role, parse_id(role_id, RoleNotFound))
        if role is None:
            raise RoleNotFound
        return role

    async def update(self, session: AsyncSession, role_id: str, changes: dict[str, Any]) -> Role:
        role = await self.get(session, role_id)
        if "permissions" in changes:
            changes["permissions"] = self.catalog.declared(changes["permissions"])
        if not changes:
            return role
        statement = update(Role).where(col(Role.id) == role.id).values(changes).returning(Role)
        try:
            updated: Role = (await session.exec(statement)).scalar_one()
        except IntegrityError as error:
            if UNIQUE_NAME in str(error.orig):
                raise RoleAlreadyExists from None
            raise
        return updated

    async def delete(self, session: AsyncSession, role_id: str) -> Role:
        role = await self.get(session, role_id)
        await session.delete(role)
        await session.flush()
        return role

    @staticmethod
    async def names_of(
        session: AsyncSession, user_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[str]]:
        """Each user's role names, sorted."""
        query = (
            select(UserRole.user_id, Role.name)
            .join(Role, col(Role.id) == col(UserRole.role_id))
            .where(col(UserRole.user_id).in_(list(user_ids)))
            .order_by(col(Role.name))
        )
        names: dict[uuid.UUID, list[str]] = {}
        for user_id, name in (await session.exec(query)).all():
            names.setdefault(user_id, []).append(name)
        return names

    async def give(self, session: AsyncSession, user_id: uuid.UUID, names: list[str]) -> None:
        """`names` become the user's roles, replacing the ones they held."""
        wanted: set[str] = set(names)
        found = (await session.exec(select(Role).where(col(Role.name).in_(wanted)))).all()
        if unknown := sorted(wanted - {role.name for role in found}):
            raise UnknownRole(unknown)
        await session.exec(delete(UserRole).where(col(UserRole.user_id) == user_id))
        if found:
            rows = [{"user_id": user_id, "role_id": role.id} for role in found]
            await session.exec(insert(UserRole).values(rows))
