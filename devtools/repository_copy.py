"""A copy of the working tree in another folder, as a git repository of its own: the files git
tracks and those it does not ignore, as they are now. For tools and tests that must change a
whole repository without touching this one (`make upgrade-check`, the module generator's test).
"""

import shutil
import subprocess
from pathlib import Path


def copy_of_the_repository(root: Path, target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    for name in listed.stdout.splitlines():
        source = root / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # A repository of its own: the suite lists files with git (the module generator's test).
    for command in (["git", "init", "--quiet"], ["git", "add", "--all"]):
        subprocess.run(command, cwd=target, check=True)
    return target
