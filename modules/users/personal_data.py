"""What users holds about a person: the account, its roles, and their data exports."""

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.personal_data import Person, PersonalData, Section

from .exports import DataExports
from .models import DataExport, User
from .roles import Roles
from .schemas import ExportRead, UserRead


async def export_account(session: AsyncSession, person: Person) -> Section:
    user = await session.get(User, person.id)
    if user is None:
        return
    roles = (await Roles.names_of(session, [user.id])).get(user.id, [])
    yield "account", UserRead.model_validate(user).model_copy(update={"roles": roles})
    # As GET /users/me/exports lists them (the one being built included).
    exports = await DataExports.of_person(session, person.id)
    yield "exports", [ExportRead.model_validate(export) for export in exports]


async def erase_account(session: AsyncSession, person: Person) -> None:
    """The account and its role grants are gone (the exports with them, ON DELETE CASCADE);
    any export left is deleted again: idempotent."""
    await session.exec(sa.delete(DataExport).where(col(DataExport.user_id) == person.id))


PERSONAL_DATA = PersonalData(export=export_account, erase=erase_account)
