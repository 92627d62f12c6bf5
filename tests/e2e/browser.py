"""A page as headless Chromium (Debian's `chromium`, which .ci/run installs) loads it: its
rendered DOM, every request the page itself made, and the Content-Security-Policy violations
it reported.

Nothing outside 127.0.0.1 is reachable from it (every other host resolves to nothing), and
Chromium's own background traffic is switched off and told apart by its initiator.
"""

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM_TIMEOUT_SECONDS = 60
_FLAGS = [
    "--headless",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=15000",  # scripts run to completion, fetches answered
]
_VIOLATION = re.compile(r"violates the following Content Security Policy directive")
_BLOCKED_URL = re.compile(r"'(https?://[^']+)' violates")


def chromium() -> str | None:
    """Debian's chromium, else another build of the same browser (CI runners ship Chrome)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


@dataclass
class LoadedPage:
    dom: str
    requests: list[str]  # what the page itself asked for, in order
    blocked: list[str]  # what its Content-Security-Policy refused to load


def load(url: str, workdir: Path) -> LoadedPage:
    browser = chromium()
    assert browser, "chromium is not installed (apt-get install chromium)"
    net_log = workdir / "net-log.json"
    result = subprocess.run(
        [browser, *_FLAGS, f"--log-net-log={net_log}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_SECONDS,
        check=True,
    )
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    violations = [line for line in result.stderr.splitlines() if _VIOLATION.search(line)]
    blocked = [m.group(1) for line in violations if (m := _BLOCKED_URL.search(line))]
    return LoadedPage(result.stdout, _page_requests(net_log, origin), blocked)


def _page_requests(net_log: Path, origin: str) -> list[str]:
    # The log may be cut short at exit: read its first complete JSON value only.
    log, _ = json.JSONDecoder().raw_decode(net_log.read_text())
    requests = []
    for event in log["events"]:
        params = event.get("params", {})
        if "url" in params and "method" in params and params.get("initiator") == origin:
            requests.append(params["url"])
    return requests
