"""Tests that run the machine's own server programs (devtools/local_servers)."""

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from devtools.local_servers.postgres import NoServerBinaries, PrivatePostgres, private_postgres


def skip_unless_ci(missing: Exception) -> NoReturn:
    """A server program is not installed: skip the test, saying which and how to get it,
    except in CI (CI=true), which installs them all and never skips."""
    if os.environ.get("CI"):
        raise missing
    pytest.skip(str(missing))


def own_postgres(password: str | None = None, **settings: str) -> Iterator[PrivatePostgres]:
    """For a fixture: `private_postgres`, skipped with the reason where the server binaries
    are missing, except in CI (CI=true), which installs them and never skips."""
    try:
        with private_postgres(password, **settings) as server:
            yield server
    except NoServerBinaries as missing:
        skip_unless_ci(missing)
