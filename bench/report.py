"""The figures as a Markdown table, and the issue's targets checked against them."""

from dataclasses import dataclass

from .load import Run

TARGET_WORKERS, TARGET_CONNECTIONS = 1, 32
# Against the FastAPI floor (bench/floor.py): what FastAPI itself does, done as its docs show.
MIN_FLOOR_RATE_RATIO = 0.7
MAX_FLOOR_P99_RATIO = 2.0
MAX_STORM_P99_MS = 50.0
MAX_COLD_START_SECONDS = 2.0


@dataclass(frozen=True)
class Row:
    endpoint: str
    workers: int
    connections: int
    service: Run
    floor: Run
    reference: Run

    @property
    def floor_rate_ratio(self) -> float:
        return _ratio(self.service.rate, self.floor.rate)

    @property
    def floor_p99_ratio(self) -> float:
        return _ratio(self.service.p99_us, self.floor.p99_us)

    @property
    def rate_ratio(self) -> float:
        """Against the bare-stack reference."""
        return _ratio(self.service.rate, self.reference.rate)

    @property
    def p99_ratio(self) -> float:
        return _ratio(self.service.p99_us, self.reference.p99_us)

    @property
    def errors(self) -> int:
        runs = (self.service, self.floor, self.reference)
        return sum(run.non_2xx + run.socket_errors for run in runs)


def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else 0.0


@dataclass(frozen=True)
class Storm:
    workers: int
    alone: Run
    during: Run
    items_alone: Run
    items_during: Run
    logins: Run

    @property
    def errors(self) -> int:
        """Failed probes, and socket errors of the logins: a login refused at once (a 503
        shed, a 429 throttled) is the storm being handled, not an error."""
        probes = (self.alone, self.during, self.items_alone, self.items_during)
        return sum(run.non_2xx + run.socket_errors for run in probes) + self.logins.socket_errors


def _ms(microseconds: int) -> str:
    return f"{microseconds / 1000:.1f}"


def render(rows: list[Row], storms: list[Storm], starts: list[float], plan: str) -> str:
    lines = [
        f"The service against the FastAPI floor and the bare-stack reference ({plan}).",
        "",
        "| endpoint | workers | conns | req/s | floor | × floor | reference | × ref "
        "| p99 ms (floor, ref) | p99 × floor | p99 × ref | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = (row.service, row.floor, row.reference)
        lines.append(
            f"| `{row.endpoint}` | {row.workers} | {row.connections} "
            f"| {row.service.rate:,.0f} | {row.floor.rate:,.0f} | **{row.floor_rate_ratio:.2f}×** "
            f"| {row.reference.rate:,.0f} | {row.rate_ratio:.2f}× "
            f"| {_ms(row.service.p99_us)} ({_ms(row.floor.p99_us)}, {_ms(row.reference.p99_us)}) "
            f"| **{row.floor_p99_ratio:.2f}×** | {row.p99_ratio:.2f}× "
            f"| {sum(run.non_2xx for run in runs)} | {sum(run.socket_errors for run in runs)} |"
        )
    lines += [
        "",
        "Login storm: `GET /health` and `GET /api/v1/items?limit=20` from 4 connections, alone "
        "and while 16 connections (or `--storm-connections`) log in non-stop (service only); "
        "logins refused at once (shed with a 503, or 429 while the account's throttle counts "
        "the logins in flight) are counted apart, not as errors.",
        "",
        "| workers | /health p50 / p99 ms alone | during the storm | items p50 / p99 ms alone "
        "| during the storm | logins/s | refused | login p99 ms | probe errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for storm in storms:
        lines.append(
            f"| {storm.workers} | {_ms(storm.alone.p50_us)} / {_ms(storm.alone.p99_us)} "
            f"| {_ms(storm.during.p50_us)} / **{_ms(storm.during.p99_us)}** "
            f"| {_ms(storm.items_alone.p50_us)} / {_ms(storm.items_alone.p99_us)} "
            f"| {_ms(storm.items_during.p50_us)} / **{_ms(storm.items_during.p99_us)}** "
            f"| {storm.logins.rate:.1f} | {storm.logins.non_2xx:,} | {_ms(storm.logins.p99_us)} "
            f"| {storm.errors} |"
        )
    if starts:
        lines += [
            "",
            "Cold start, `manage.py serve` (as `make run`) to the first `200` from `/health`, one "
            "worker, the database migrated: " + ", ".join(f"{seconds:.2f} s" for seconds in starts),
        ]
    return "\n".join(lines)


def verdicts(rows: list[Row], storms: list[Storm], starts: list[float]) -> str:
    """The issue's targets (1 worker, 32 connections), each met or not."""
    checks: list[tuple[str, bool]] = []
    for row in rows:
        if (row.workers, row.connections) != (TARGET_WORKERS, TARGET_CONNECTIONS):
            continue
        checks.append(
            (f"{row.endpoint}: req/s ≥ {MIN_FLOOR_RATE_RATIO}× the floor's "
             f"({row.floor_rate_ratio:.2f}×)", row.floor_rate_ratio >= MIN_FLOOR_RATE_RATIO)
        )  # fmt: skip
        checks.append(
            (f"{row.endpoint}: p99 ≤ {MAX_FLOOR_P99_RATIO:g}× the floor's "
             f"({row.floor_p99_ratio:.2f}×)", row.floor_p99_ratio <= MAX_FLOOR_P99_RATIO)
        )  # fmt: skip
    for storm in storms:
        if storm.workers == TARGET_WORKERS:
            p99 = storm.during.p99_us / 1000
            checks.append(
                (f"login storm: /health p99 ≤ {MAX_STORM_P99_MS:g} ms ({p99:.1f} ms)",
                 p99 <= MAX_STORM_P99_MS)
            )  # fmt: skip
    if starts:
        slowest = max(starts)
        checks.append(
            (f"cold start: first /health ≤ {MAX_COLD_START_SECONDS:g} s (slowest of "
             f"{len(starts)}: {slowest:.2f} s)", slowest <= MAX_COLD_START_SECONDS)
        )  # fmt: skip
    errors = sum(row.errors for row in rows) + sum(storm.errors for storm in storms)
    checks.append((f"no non-2xx response, no socket error ({errors} in all)", errors == 0))
    lines = ["Targets (1 worker, 32 connections):", ""]
    lines += [f"- [{'x' if met else ' '}] {text}" for text, met in checks]
    return "\n".join(lines)
