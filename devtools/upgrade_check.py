"""`make upgrade-check`: lint and the whole suite against the newest releases pyproject.toml
allows, then against the lowest, each in a temporary copy of the repository.

    python -m devtools.upgrade_check [--only newest|lowest]

For each, the copy's lock file is resolved again (`uv lock --upgrade`, or
`uv lock --resolution lowest-direct`: the lowest version of every direct dependency), the
packages that moved are printed, and `make lint test` runs there on a fresh environment. The
working tree and its lock file are left as they are. Exits 1 when either run fails: a lower
bound that does not work is raised in pyproject.toml, a newest release that breaks something
is an issue to fix before the next `uv lock --upgrade`.

Not part of `.ci/run`: its outcome depends on what the package registry holds that day. The
weekly workflow (.github/workflows/upgrade-check.yml) runs it.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from devtools.repository_copy import copy_of_the_repository

ROOT = Path(__file__).resolve().parent.parent
RESOLUTIONS = {
    "newest": ["--upgrade"],
    "lowest": ["--resolution", "lowest-direct"],
}
# What uv's later commands (`make`'s `uv sync --locked`, `uv run --locked`) must be told too,
# or they find the lock file out of date with their default resolution.
RESOLUTION_ENVIRONMENT = {"newest": {}, "lowest": {"UV_RESOLUTION": "lowest-direct"}}


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def locked_versions(lock_file: Path) -> dict[str, str]:
    packages = tomllib.loads(lock_file.read_text())["package"]
    return {package["name"]: package["version"] for package in packages if "version" in package}


def direct_dependencies(pyproject: Path) -> set[str]:
    project = tomllib.loads(pyproject.read_text())
    requirements = [
        *project["project"]["dependencies"],
        *(r for group in project.get("dependency-groups", {}).values() for r in group),
    ]
    names = set()
    for requirement in requirements:
        name = requirement
        for separator in "<>=!~[; ":
            name = name.split(separator)[0]
        names.add(name.strip().lower().replace("_", "-"))
    return names


def moved(before: dict[str, str], after: dict[str, str], direct: set[str]) -> list[str]:
    """`name before -> after` for every direct dependency whose version changed, and a count
    of the others."""
    lines = [
        f"  {name} {before.get(name, '(new)')} -> {version}"
        for name, version in sorted(after.items())
        if name in direct and before.get(name) != version
    ]
    others = sum(
        1 for name, version in after.items() if name not in direct and before.get(name) != version
    )
    lines.append(f"  and {others} indirect dependencies")
    return lines


def check(resolution: str) -> bool:
    with tempfile.TemporaryDirectory(prefix=f"modulith-upgrade-{resolution}-") as directory:
        copy = Path(directory)
        copy_of_the_repository(ROOT, copy)
        before = locked_versions(copy / "uv.lock")
        print(f"\n== {resolution}: uv lock {' '.join(RESOLUTIONS[resolution])}", flush=True)
        subprocess.run([*uv(), "lock", *RESOLUTIONS[resolution]], cwd=copy, check=True)
        after = locked_versions(copy / "uv.lock")
        print("\n".join(moved(before, after, direct_dependencies(copy / "pyproject.toml"))))
        started = time.monotonic()
        environment = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        environment |= RESOLUTION_ENVIRONMENT[resolution]
        result = subprocess.run(["make", "lint", "test"], cwd=copy, env=environment, check=False)
        verdict = "passed" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        print(f"== {resolution}: make lint test {verdict} in {time.monotonic() - started:.0f} s")
        return result.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RESOLUTIONS), help="one resolution, not both")
    args = parser.parse_args()
    resolutions = [args.only] if args.only else list(RESOLUTIONS)
    outcomes = {resolution: check(resolution) for resolution in resolutions}
    print("\n" + "\n".join(f"{r}: {'ok' if ok else 'FAILED'}" for r, ok in outcomes.items()))
    if not all(outcomes.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
