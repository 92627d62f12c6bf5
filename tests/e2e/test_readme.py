"""The README's "Try it" block, run as pasted (bash, curl, python3) against the real server:
if an example drifts from the API, this fails."""

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import RunningServer

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def try_it_block() -> str:
    section = README.read_text().split("### Try it", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README: no sh block under 'Try it'"
    return block.group(1)


async def test_the_readme_try_it_block_runs_as_pasted(server: RunningServer) -> None:
    assert shutil.which("curl"), "the README's examples need curl"
    result = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", try_it_block()],
        env={**os.environ, "API": f"{server.base_url}/api/v1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, result.stderr + output
    assert '"title":"Teapot"' in output.replace(" ", "")
    assert 'etag: "1"' in output.lower()
    assert "304\n" in output
    assert "PRECONDITION_FAILED" in output
    assert "204\n" in output
    assert '"email":"ada@example.com"' in output.replace(" ", "")
