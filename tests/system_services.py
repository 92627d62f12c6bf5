"""Running the machine's own server programs (PostgreSQL, PgBouncer) in tests."""

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

RUN_AS = "postgres"  # the system user Debian's packages create


def as_service_user(command: list[str]) -> list[str]:
    """PostgreSQL and PgBouncer refuse to run as root: as root, `command` runs as RUN_AS."""
    return ["runuser", "-u", RUN_AS, "--", *command] if os.geteuid() == 0 else command


def give_to_service_user(*paths: Path) -> None:
    """Files the server program must own (its data, its configuration), as root."""
    if os.geteuid() == 0:
        for path in paths:
            shutil.chown(path, RUN_AS, RUN_AS)


def skip_unless_ci(missing: Exception) -> NoReturn:
    """A server program is not installed: skip the test, saying which and how to get it,
    except in CI (CI=true), which installs them all and never skips."""
    if os.environ.get("CI"):
        raise missing
    pytest.skip(str(missing))
