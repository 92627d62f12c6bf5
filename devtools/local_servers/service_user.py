"""PostgreSQL and PgBouncer refuse to run as root: as root, they run as the system user
Debian's packages create."""

import os
import shutil
from pathlib import Path

RUN_AS = "postgres"


def as_service_user(command: list[str]) -> list[str]:
    """`command`, as RUN_AS when this process is root."""
    return ["runuser", "-u", RUN_AS, "--", *command] if os.geteuid() == 0 else command


def give_to_service_user(*paths: Path) -> None:
    """Files the server program must own (its data, its configuration), as root."""
    if os.geteuid() == 0:
        for path in paths:
            shutil.chown(path, RUN_AS, RUN_AS)
