"""docs/modules.md is written from the code (`make docs`) and must be committed up to date."""

import dataclasses
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from devtools.module_map import render
from main import MODULES
from modules.users.public import UserDeleted

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_module_map_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "modules.md").read_text()
    assert committed == render(MODULES, ROOT), "docs/modules.md is stale: run `make docs`"


def test_a_module_that_changes_changes_the_map() -> None:
    async def greet_the_departed(session: AsyncSession, event: UserDeleted) -> None: ...

    health, *others = MODULES
    subscribed = dataclasses.replace(health, handlers={UserDeleted: greet_the_departed})
    changed = render([subscribed, *others], ROOT)
    assert changed != render(MODULES, ROOT)  # so the test above would fail until `make docs`
    assert "`users.deleted` (`greet_the_departed`)" in changed
    assert "users -.->|users.deleted| health" in changed


def test_the_map_shows_routes_tables_events_settings_and_the_graph() -> None:
    text = render(MODULES, ROOT)
    items = text.split("## items\n")[1].split("\n## ")[0]
    assert "| GET | `/api/v1/items/{item_id}` | Get an item |" in items
    assert "**Tables**: `item_idempotency_keys`, `items`" in items
    assert "**Consumes**: nothing" in items
    assert (
        "**Personal data**: its section of a person's export (`export_items`), erased on"
        " `users.deleted` (`erase_items`)"
    ) in items
    users = text.split("## users\n")[1].split("\n## ")[0]
    assert "**Publishes**: `users.deleted`" in users
    assert "`SECRET_KEY`" in users
    assert "```mermaid\ngraph LR" in text
    assert "    items --> users" in text
