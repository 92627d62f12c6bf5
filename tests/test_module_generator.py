"""`make module name=orders` in a copy of the repository: the new module lints, its tests
pass, and its routes are in the schema."""

import subprocess
import sys
from pathlib import Path

import pytest

from devtools import repository_copy
from tests.e2e.server import ROOT

pytestmark = pytest.mark.e2e


def copy_of_the_repository(target: Path) -> Path:
    copy = repository_copy.copy_of_the_repository(ROOT, target)
    (copy / ".venv").symlink_to(ROOT / ".venv")  # the same locked environment
    return copy


def run(copy: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=copy, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_generated_module_is_registered_lints_and_passes_its_tests(tmp_path: Path) -> None:
    copy = copy_of_the_repository(tmp_path / "repo")
    generated = run(copy, sys.executable, "manage.py", "module", "orders")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "from modules.orders.module import module as orders" in (copy / "main.py").read_text()
    assert "%(here)s/migrations/orders" in (copy / "alembic.ini").read_text()
    assert "## orders" in (copy / "docs" / "modules.md").read_text()

    lint = run(copy, "make", "lint")
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
    tests = run(copy, "make", "test", "M=orders")
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert " 8 passed" in tests.stdout
    paths = run(
        copy,
        sys.executable,
        "-c",
        "from sqlalchemy import make_url; from main import create_app;"
        "from tests.conftest import make_settings;"
        "app = create_app(make_settings(make_url('postgresql+asyncpg://u@127.0.0.1/x')));"
        "print(sorted(p for p in app.openapi()['paths'] if 'orders' in p))",
    )
    assert paths.stdout.strip() == "['/api/v1/orders', '/api/v1/orders/{order_id}']", paths.stderr


def test_the_generator_refuses_a_taken_or_bad_name(tmp_path: Path) -> None:
    copy = copy_of_the_repository(tmp_path / "repo")
    for name, reason in (("items", "exists already"), ("Orders", "lower-case plural noun")):
        refused = run(copy, sys.executable, "manage.py", "module", name)
        assert refused.returncode == 1
        assert reason in refused.stderr
    assert "orders" not in (copy / "main.py").read_text()
