"""`make lint`'s migration check: squawk over the SQL of every migration of every module's
branch, as `alembic upgrade --sql` writes it (with the run's lock and statement timeouts,
migrations/env.py), one file per migration; the rules and the exceptions are in .squawk.toml.

    uv run python -m devtools.migration_lint

It fails on what would lock a busy table or break the version still serving during a
rolling deploy: a NOT NULL column without a default, an index built without CONCURRENTLY,
a rename or a type change in one step. The README's migration guide shows the way around
each (expand, then contract).
"""

import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

from main import MODULES
from shared.data.provisioning import ALEMBIC_INI
from shared.module import KERNEL, tables_by_module

ROOT = Path(__file__).resolve().parents[1]
# Offline mode never connects: any PostgreSQL URL gives PostgreSQL's SQL.
OFFLINE_URL = URL.create("postgresql+asyncpg", "postgres", host="localhost", database="app")
_MIGRATION = re.compile(r"^-- Running upgrade [^\n]*?-> (\w+)$", re.MULTILINE)


def branch_sql(branch: str) -> str:
    """`alembic upgrade --sql <branch>@head` from an empty database."""
    buffer = io.StringIO()
    config = Config(str(ALEMBIC_INI), output_buffer=buffer)
    config.attributes["database_url"] = OFFLINE_URL.render_as_string(hide_password=False)
    command.upgrade(config, f"{branch}@head", sql=True)
    return buffer.getvalue()


def migrations_sql(script: str) -> dict[str, str]:
    """Each migration's statements in a branch's script, by revision, as the database would
    run it alone: the run's preamble (BEGIN, the timeouts), the migration (with the COMMIT and
    BEGIN around an `autocommit_block`, if it has one), COMMIT."""
    pieces = _MIGRATION.split(script)
    preamble = pieces[0]
    revisions, bodies = pieces[1::2], pieces[2::2]
    return {
        revision: preamble
        + body.rstrip()
        + ("" if body.rstrip().endswith("COMMIT;") else "\n\nCOMMIT;")
        + "\n"
        for revision, body in zip(revisions, bodies, strict=True)
    }


def write_migrations(directory: Path) -> list[Path]:
    branches = [KERNEL, *(name for name, tables in tables_by_module(MODULES).items() if tables)]
    written: dict[str, Path] = {}
    for branch in branches:
        for revision, sql in migrations_sql(branch_sql(branch)).items():
            if revision not in written:  # a dependency's migrations come with its dependents'
                written[revision] = directory / f"{revision}.sql"
                written[revision].write_text(sql)
    return list(written.values())


def squawk(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """squawk over `files` with the project's rules (.squawk.toml)."""
    binary = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    return subprocess.run(
        [binary, "--config", str(ROOT / ".squawk.toml"), "--reporter", "gcc", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def main() -> int:
    directory = Path(tempfile.mkdtemp(prefix="modulith-migrations-sql-"))
    try:
        files = write_migrations(directory)
        result = squawk(files)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(result.stdout + result.stderr, end="")
    if result.returncode == 0:
        print(f"squawk: {len(files)} migrations, nothing that would lock or break a deploy")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
