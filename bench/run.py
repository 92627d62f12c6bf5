"""`make bench`: the service against the FastAPI floor and the bare-stack reference, in one
run, on this machine.

    uv run python -m bench.run [--smoke | --storm]

Creates its own database, seeds one user with 10,000 items, starts the service as in
production, the FastAPI floor (bench/floor.py) and the reference (bench/reference.py) side by
side, then drives each with wrk on 127.0.0.1, one after the other, endpoint by endpoint.
Prints a Markdown table and writes it, with every raw wrk output, under bench/results/<time>/.
Exits 1 if any run saw a non-2xx response or a socket error (but the logins of the login storm,
which the service may refuse at once with a 503 or a 429). `--storm` runs the login storm
alone. bench/README.md says how to read the figures.
"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from shared.data.db import asyncpg_dsn
from shared.data.provisioning import drop_database

from .cold_start import cold_starts
from .database import recreate, seed_items
from .load import INSTALL_HINT, Run, Scenario, Wrk, finish
from .report import Row, Storm, render, verdicts
from .servers import ROOT, comparison_command, free_port, service_command, serving

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/modulith_bench"
PASSWORD = "bench-password-1234"
STORM_CONNECTIONS = 16
PROBE_CONNECTIONS = 4
COLD_STARTS = 3


@dataclass(frozen=True)
class Plan:
    workers: tuple[int, ...]
    connections: tuple[int, ...]
    seconds: float
    warmup_seconds: float


FULL = Plan(workers=(1, 2), connections=(32, 64), seconds=15, warmup_seconds=2)
SMOKE = Plan(workers=(1,), connections=(32,), seconds=2, warmup_seconds=1)
STORM = Plan(workers=(1,), connections=(), seconds=15, warmup_seconds=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    runs = parser.add_mutually_exclusive_group()
    runs.add_argument("--smoke", action="store_true", help="2 s per run, 1 worker, 32 conns")
    runs.add_argument("--storm", action="store_true", help="the login storm alone, 1 worker")
    parser.add_argument(
        "--storm-connections",
        type=int,
        default=STORM_CONNECTIONS,
        help=f"connections that log in during the storm (default {STORM_CONNECTIONS})",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(INSTALL_HINT)
    plan = SMOKE if args.smoke else STORM if args.storm else FULL
    suffix = "-smoke" if args.smoke else "-storm" if args.storm else ""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + suffix
    results = ROOT / "bench" / "results" / stamp
    results.mkdir(parents=True)

    rows, storms, starts = Benchmark(plan, results, args.storm_connections).run()
    table = render(rows, storms, starts, plan_text(plan))
    checks = verdicts(rows, storms, starts)
    (results / "results.md").write_text(table + "\n" + checks + "\n")
    print("\n" + table + "\n" + checks)
    print(f"\nRaw wrk output and this table: {results.relative_to(ROOT)}/")
    failed = [row for row in rows if row.errors] + [storm for storm in storms if storm.errors]
    if failed:
        sys.exit(f"{len(failed)} run(s) had non-2xx responses or socket errors")


def progress(line: str) -> None:
    """One line as the run goes (the table comes at the end, after minutes)."""
    print(line, flush=True)


def plan_text(plan: Plan) -> str:
    return (
        f"wrk, 1 thread, {plan.seconds:g} s per run after {plan.warmup_seconds:g} s of warm-up; "
        f"{os.cpu_count()} cores shared by the server(s) and wrk"
    )


class Benchmark:
    def __init__(self, plan: Plan, results: Path, storm_connections: int) -> None:
        self.plan = plan
        self.storm_connections = storm_connections
        self.results = results
        self.wrk = Wrk()
        self.database_url = make_url(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
        self.ids_file = results / "item_ids.txt"
        self.email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        self.owner_id: str | None = None

    def run(self) -> tuple[list[Row], list[Storm], list[float]]:
        progress(f"bench: {plan_text(self.plan)}; results in {self.results.relative_to(ROOT)}/")
        asyncio.run(recreate(self.database_url))
        try:
            starts = self._cold_starts() if self.plan.connections else []
            return (*self._run_all(), starts)
        finally:
            asyncio.run(drop_database(self.database_url))

    def _cold_starts(self) -> list[float]:
        database_url = self.database_url.render_as_string(hide_password=False)
        starts = cold_starts(database_url, self.results, COLD_STARTS)
        progress(f"{'cold start':<28} " + ", ".join(f"{seconds:.2f} s" for seconds in starts))
        return starts

    def _run_all(self) -> tuple[list[Row], list[Storm]]:
        rows: list[Row] = []
        storms: list[Storm] = []
        for workers in self.plan.workers:
            service_port = free_port()
            database_url = self.database_url.render_as_string(hide_password=False)
            command, environment = service_command(database_url, workers, service_port)
            log = self.results / f"service-w{workers}.log"
            progress(f"starting the service, the floor and the reference with {workers} worker(s)")
            with serving("service", command, environment, service_port, log) as service:
                token = self._account(service)
                if not self.plan.connections:  # the storm alone
                    storms.append(self._login_storm(service, workers, token))
                    continue
                with (
                    self._comparison("floor", "bench.floor:create_app", workers) as floor,
                    self._comparison("reference", "bench.reference:create_app", workers) as ref,
                ):
                    for scenario in self._scenarios(token, self._api_key(service, token)):
                        for connections in self.plan.connections:
                            urls = {"service": service, "floor": floor, "reference": ref}
                            rows.append(self._compare(scenario, workers, connections, urls))
                storms.append(self._login_storm(service, workers, token))
        return rows, storms

    @contextmanager
    def _comparison(self, name: str, factory: str, workers: int) -> Iterator[str]:
        """The floor or the reference, serving the benchmark user's items."""
        port = free_port()
        dsn = asyncpg_dsn(self.database_url)
        command, environment = comparison_command(factory, dsn, str(self.owner_id), workers, port)
        log = self.results / f"{name}-w{workers}.log"
        with serving(name, command, environment, port, log) as base_url:
            yield base_url

    def _account(self, service: str) -> str:
        """Registers the user and seeds its items (first time), then logs in."""
        with httpx.Client(base_url=service, timeout=30) as client:
            if self.owner_id is None:
                response = client.post(
                    "/api/v1/auth/register", json={"email": self.email, "password": PASSWORD}
                )
                response.raise_for_status()
                self.owner_id = response.json()["id"]
                owner = uuid.UUID(str(self.owner_id))
                asyncio.run(seed_items(self.database_url, owner, self.ids_file))
            response = client.post(
                "/api/v1/auth/jwt/login", data={"username": self.email, "password": PASSWORD}
            )
            response.raise_for_status()
            return str(response.json()["access_token"])

    @staticmethod
    def _api_key(service: str, token: str) -> str:
        """A key of the benchmark user, minted just after its login (sudo mode holds)."""
        with httpx.Client(base_url=service, timeout=30) as client:
            response = client.post(
                "/api/v1/auth/api-keys",
                headers={"Authorization": f"Bearer {token}"},
                json={"name": "bench", "scopes": ["items:read", "items:write"]},
            )
            response.raise_for_status()
            return str(response.json()["key"])

    def _scenarios(self, token: str, api_key: str) -> list[Scenario]:
        item = '{"title": "Bench item", "price": "9.99", "quantity": 1, "tags": ["bench"]}'
        return [
            Scenario("GET /health", "GET", "/health"),
            Scenario("GET /api/v1/items?limit=20", "GET", "/api/v1/items?limit=20", token=token),
            Scenario(
                "GET /api/v1/items/{id}",
                "GET",
                "/api/v1/items",
                token=token,
                ids_file=self.ids_file,
            ),
            # The same, authenticated by an API key instead of a session's access token.
            Scenario(
                "GET /api/v1/items/{id} (key)",
                "GET",
                "/api/v1/items",
                token=api_key,
                ids_file=self.ids_file,
            ),
            Scenario(
                "POST /api/v1/items",
                "POST",
                "/api/v1/items",
                body=item,
                content_type="application/json",
                token=token,
            ),
        ]

    def _compare(
        self, scenario: Scenario, workers: int, connections: int, urls: dict[str, str]
    ) -> Row:
        """The service, the floor, then the reference, back to back, so all three see the same
        machine."""
        figures: dict[str, Run] = {}
        for name, base_url in urls.items():
            self.wrk.run(
                base_url, scenario, connections=connections, seconds=self.plan.warmup_seconds
            )
            run = self.wrk.run(
                base_url, scenario, connections=connections, seconds=self.plan.seconds
            )
            slug = scenario.name.split("?")[0].replace("/", "_").replace(" ", "").strip("_")
            (self.results / f"{name}-{slug}-w{workers}-c{connections}.txt").write_text(run.raw)
            figures[name] = run
        row = Row(
            scenario.name,
            workers,
            connections,
            figures["service"],
            figures["floor"],
            figures["reference"],
        )
        progress(
            f"{scenario.name:<28} {workers} worker(s) {connections:>3} conns  "
            f"{figures['service'].rate:>8,.0f} req/s  floor {figures['floor'].rate:>8,.0f} "
            f"({row.floor_rate_ratio:.2f}×)  reference {figures['reference'].rate:>8,.0f} "
            f"({row.rate_ratio:.2f}×)"
        )
        return row

    def _login_storm(self, service: str, workers: int, token: str) -> Storm:
        """/health and a page of items, alone, then while `storm_connections` clients log in
        non-stop: what a flood of logins costs the other routes."""
        health = Scenario("GET /health", "GET", "/health")
        items = Scenario("GET /api/v1/items?limit=20", "GET", "/api/v1/items?limit=20", token=token)
        seconds = self.plan.seconds
        alone = self.wrk.run(service, health, connections=PROBE_CONNECTIONS, seconds=seconds)
        items_alone = self.wrk.run(service, items, connections=PROBE_CONNECTIONS, seconds=seconds)
        login = Scenario(
            "POST /api/v1/auth/jwt/login",
            "POST",
            "/api/v1/auth/jwt/login",
            body=f"username={self.email}&password={PASSWORD}",
            content_type="application/x-www-form-urlencoded",
        )
        storm: subprocess.Popen[str] = self.wrk.start(
            service, login, connections=self.storm_connections, seconds=2 * seconds + 2
        )
        time.sleep(1)  # the storm is on
        during = self.wrk.run(service, health, connections=PROBE_CONNECTIONS, seconds=seconds)
        items_during = self.wrk.run(service, items, connections=PROBE_CONNECTIONS, seconds=seconds)
        logins = finish(storm)
        runs = {
            "alone": alone,
            "during": during,
            "items-alone": items_alone,
            "items-during": items_during,
            "logins": logins,
        }
        for name, run in runs.items():
            (self.results / f"storm-{name}-w{workers}.txt").write_text(run.raw)
        progress(
            f"{'login storm':<28} {workers} worker(s) p99 alone / during "
            f"{logins.rate:,.0f} logins/s ({logins.non_2xx:,} refused): /health "
            f"{alone.p99_us / 1000:.1f} / {during.p99_us / 1000:.1f} ms, items "
            f"{items_alone.p99_us / 1000:.1f} / {items_during.p99_us / 1000:.1f} ms"
        )
        return Storm(workers, alone, during, items_alone, items_during, logins)


if __name__ == "__main__":
    main()
