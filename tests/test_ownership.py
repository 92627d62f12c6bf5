"""Every table in the migrated database belongs to exactly one module (or the kernel), and a
foreign key enters another module's table only where the owner's migration branch declares
that module as a dependency (`depends_on`)."""

from collections import defaultdict

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from main import MODULES
from shared.data.provisioning import alembic_config
from shared.module import KERNEL, KERNEL_TABLES, tables_by_module

_FOREIGN_KEYS = text(
    """
    SELECT c.conname, src.relname AS source, dst.relname AS target
    FROM pg_constraint c
    JOIN pg_class src ON src.oid = c.conrelid
    JOIN pg_class dst ON dst.oid = c.confrelid
    JOIN pg_namespace n ON n.oid = src.relnamespace
    WHERE c.contype = 'f' AND n.nspname = 'public'
    """
)
_TABLES = text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")


def declared_dependencies() -> dict[str, set[str]]:
    """For each branch, the branches its revisions name in `depends_on`."""
    script = ScriptDirectory.from_config(alembic_config(URL.create("postgresql+asyncpg")))
    declared: dict[str, set[str]] = defaultdict(set)
    for revision in script.walk_revisions():
        [branch] = revision.branch_labels
        dependencies = revision.dependencies or ()
        for dependency in [dependencies] if isinstance(dependencies, str) else dependencies:
            target = script.get_revision(dependency)
            assert target is not None, f"{revision.revision} depends on unknown {dependency}"
            declared[branch] |= target.branch_labels
    return declared


async def ownership_problems(url: URL) -> list[str]:
    owners: dict[str, list[str]] = defaultdict(list)
    for module, owned in [*tables_by_module(MODULES).items(), (KERNEL, KERNEL_TABLES)]:
        for table in owned:
            owners[table].append(module)
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        tables = sorted((await connection.execute(_TABLES)).scalars())
        foreign_keys = (await connection.execute(_FOREIGN_KEYS)).all()
    await engine.dispose()

    problems = [
        f"table {table} has {'no owning module' if not owners[table] else 'two owners'}"
        f"{'' if not owners[table] else ': ' + ', '.join(owners[table])}"
        for table in tables
        if len(owners[table]) != 1
    ]
    declared = declared_dependencies()
    for name, source, target in foreign_keys:
        if not (owners[source] and owners[target]):
            continue  # reported above
        owner, other = owners[source][0], owners[target][0]
        if owner != other and other not in declared[owner]:
            problems.append(
                f"foreign key {name} enters {other} ({target}) from {owner} ({source}), "
                f"but no {owner} migration depends on {other}"
            )
    return problems


async def test_every_table_has_one_owner_and_foreign_keys_follow_declared_dependencies(
    database_url: URL,
) -> None:
    assert await ownership_problems(database_url) == []


async def test_a_table_without_an_owner_and_an_undeclared_foreign_key_are_caught(
    scratch_database: URL,
) -> None:
    engine = create_async_engine(scratch_database)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE stray (id int PRIMARY KEY)"))
        await connection.execute(  # auth's branch declares users, not items
            text(
                "ALTER TABLE auth_sessions ADD COLUMN item_id uuid"
                " CONSTRAINT fk_auth_sessions_item_id_items REFERENCES items (id)"
            )
        )
    await engine.dispose()
    assert await ownership_problems(scratch_database) == [
        "table stray has no owning module",
        "foreign key fk_auth_sessions_item_id_items enters items (items) from auth "
        "(auth_sessions), but no auth migration depends on items",
    ]
