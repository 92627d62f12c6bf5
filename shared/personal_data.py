"""What a module holds about a person, declared with its `Module` record: how to export it
(its section of the person's archive) and how to erase it (when the account is deleted).

    Module(..., personal_data=PersonalData(export=export_items, erase=erase_items))

The kernel knows nothing of a section's contents. An exporter yields its section field by
field, `(name, value)`; a value that is an async iterator is written as a JSON array, row by
row, so a module streams or pages its rows and the archive is never whole in memory. An
eraser runs in a job after the account is gone, at least once: it must be idempotent.
tests/users/test_personal_data.py fails when a module owning a column that refers to a user
declares neither.
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlmodel.ext.asyncio.session import AsyncSession

ARCHIVE_FORMAT = "modulith-export/1"


@dataclass(frozen=True, slots=True)
class Person:
    """Whose data: the account's id, and its e-mail address (some rows are keyed by it)."""

    id: uuid.UUID
    email: str | None  # None only in an erasure queued before events carried it


# A module's section of the archive, field by field: a value JSON can hold (a pydantic model
# included), or an async iterator of such values, written as a JSON array.
Section = AsyncIterator[tuple[str, Any]]
Exporter = Callable[[AsyncSession, Person], Section]
Eraser = Callable[[AsyncSession, Person], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PersonalData:
    export: Exporter
    erase: Eraser


async def archive(
    session: AsyncSession,
    person: Person,
    generated_at: datetime,
    exporters: Iterable[tuple[str, Exporter]],
) -> AsyncIterator[bytes]:
    """The person's archive as JSON, piece by piece: `{"format", "user_id", "generated_at",
    "modules": {<module>: {<field>: …}}}`, each module's section from its exporter."""
    head = {"format": ARCHIVE_FORMAT, "user_id": person.id, "generated_at": generated_at}
    yield to_json(head)[:-1] + b', "modules": {'
    for number, (module, export) in enumerate(exporters):
        yield (b", " if number else b"") + to_json(module) + b": {"
        fields = 0
        async for name, value in export(session, person):
            yield (b", " if fields else b"") + to_json(name) + b": "
            fields += 1
            if isinstance(value, AsyncIterator):
                async for piece in _array(value):
                    yield piece
            else:
                yield to_json(value)
        yield b"}"
    yield b"}}"


async def _array(rows: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for row in rows:
        yield (b"" if first else b", ") + to_json(row)
        first = False
    yield b"]"
