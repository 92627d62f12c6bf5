"""`make lint`'s migration check (devtools/migration_lint.py): every migration runs under a
lock and a statement timeout, and squawk refuses what would lock a busy table or break the
version still serving during a rolling deploy."""

from pathlib import Path

import pytest

from devtools.migration_lint import branch_sql, migrations_sql, squawk

PREAMBLE = "BEGIN;\n\nSET LOCAL lock_timeout = '5s';\n\nSET LOCAL statement_timeout = '60s';\n\n"


def a_migration(tmp_path: Path, statements: str) -> list[Path]:
    script = f"{PREAMBLE}-- Running upgrade a1 -> b2\n\n{statements}\n\nCOMMIT;\n"
    [(revision, sql)] = migrations_sql(script).items()
    path = tmp_path / f"{revision}.sql"
    path.write_text(sql)
    return [path]


def test_every_migration_of_every_branch_runs_under_the_timeouts() -> None:
    for branch in ("kernel", "users", "auth", "items", "audit"):
        for revision, sql in migrations_sql(branch_sql(branch)).items():
            lock, statement = sql.index("SET LOCAL lock_timeout"), sql.index("statement_timeout")
            first_change = min(
                sql.find(word) for word in ("CREATE", "ALTER", "INSERT") if word in sql
            )
            assert lock < first_change and statement < first_change, revision


@pytest.mark.parametrize(
    ("statements", "rule"),
    [
        ("ALTER TABLE items ADD COLUMN sku TEXT NOT NULL;", "adding-required-field"),
        ("CREATE INDEX ix_items_title ON items (title);", "require-concurrent-index-creation"),
        ("ALTER TABLE items RENAME COLUMN title TO name;", "renaming-column"),
        ("ALTER TABLE items ALTER COLUMN title TYPE TEXT;", "changing-column-type"),
    ],
)
def test_a_change_that_breaks_a_rolling_deploy_fails_the_lint(
    tmp_path: Path, statements: str, rule: str
) -> None:
    result = squawk(a_migration(tmp_path, statements))
    assert result.returncode != 0
    assert rule in result.stdout


def test_the_expand_step_of_the_same_change_passes(tmp_path: Path) -> None:
    # What `op.add_column` and, in an `autocommit_block()`, `op.create_index(...,
    # postgresql_concurrently=True, if_not_exists=True)` write.
    expand = (
        "ALTER TABLE items ADD COLUMN sku TEXT;\n\nCOMMIT;\n\nSET lock_timeout = '5s';\n\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_items_sku ON items (sku);\n\nBEGIN;"
    )
    result = squawk(a_migration(tmp_path, expand))
    assert result.returncode == 0, result.stdout
