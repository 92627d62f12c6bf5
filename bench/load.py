"""Driving wrk: one run of one scenario, parsed into a `Run`."""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCENARIO = Path(__file__).parent / "wrk" / "scenario.lua"
INSTALL_HINT = "wrk is not installed: sudo apt-get install wrk (Debian/Ubuntu), brew install wrk"


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    body: str | None = None
    content_type: str | None = None
    token: str | None = None
    ids_file: Path | None = None

    def environment(self) -> dict[str, str]:
        values = {
            "BENCH_METHOD": self.method,
            "BENCH_PATH": self.path,
            "BENCH_BODY": self.body,
            "BENCH_CONTENT_TYPE": self.content_type,
            "BENCH_TOKEN": self.token,
            "BENCH_IDS": str(self.ids_file) if self.ids_file else None,
        }
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class Run:
    requests: int
    duration_us: int
    p50_us: int
    p99_us: int
    non_2xx: int
    socket_errors: int
    raw: str

    @property
    def rate(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0


class Wrk:
    def __init__(self, executable: str = "wrk") -> None:
        self.executable = executable

    def start(
        self, base_url: str, scenario: Scenario, *, connections: int, seconds: float
    ) -> subprocess.Popen[str]:
        """Starts a run in the background (the login storm runs two at once)."""
        command = [
            self.executable,
            "--threads", "1",  # one core for the server, one shared by wrk: 2 cores in all
            "--connections", str(connections),
            "--duration", f"{max(1, round(seconds))}s",
            "--timeout", "10s",  # a login queued behind 15 others takes seconds, not an error
            "--latency",
            "--script", str(SCENARIO),
            base_url,
        ]  # fmt: skip
        return subprocess.Popen(
            command,
            env={**os.environ, **scenario.environment()},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, base_url: str, scenario: Scenario, *, connections: int, seconds: float) -> Run:
        return finish(self.start(base_url, scenario, connections=connections, seconds=seconds))


def finish(process: subprocess.Popen[str]) -> Run:
    output, _ = process.communicate(timeout=300)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    line = next(line for line in reversed(output.splitlines()) if line.startswith("{"))
    figures = json.loads(line)
    socket_errors = sum(
        figures[name] for name in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return Run(
        requests=figures["requests"],
        duration_us=figures["duration_us"],
        p50_us=figures["p50_us"],
        p99_us=figures["p99_us"],
        non_2xx=figures["non_2xx"],
        socket_errors=socket_errors,
        raw=output,
    )
