"""The mixed load `make stack-check` drives through the edge: readers, writers and a client
asking for e-mails (jobs), every answer counted in the phase it came in.

The readers call from another loopback address (127.0.0.2) with an account of their own:
the writers' writes do not send them to the primary for READ_YOUR_WRITES_SECONDS, so their
reads go to the replica. Each writer reads back what it wrote at once, through whichever
node the edge picks: it must find it (read-your-writes across nodes)."""

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

PASSWORD = "stack-check-horse-battery"
READERS = 4
READER_ADDRESS = "127.0.0.2"
WRITERS = 2
MAIL_EVERY_SECONDS = 0.5


@dataclass
class PhaseFigures:
    name: str
    statuses: Counter[int] = field(default_factory=Counter)
    socket_errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.socket_errors.values())

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(len(ordered) * 0.99)] * 1000 if ordered else 0.0

    def line(self) -> str:
        refused = {status: n for status, n in sorted(self.statuses.items()) if status >= 300}
        return (
            f"| {self.name} | {self.requests} | "
            + (", ".join(f"{n}×{status}" for status, n in refused.items()) or "none")
            + " | "
            + (", ".join(f"{n}×{name}" for name, n in self.socket_errors.items()) or "none")
            + f" | {self.p99_ms():.0f} |"
        )


@dataclass
class Caller:
    client: httpx.AsyncClient
    headers: dict[str, str]  # an account's access token


@dataclass
class MixedLoad:
    writers: Caller
    readers: Caller
    mail_accounts: list[str]  # registered addresses, each to be asked one reset e-mail
    phase: PhaseFigures = field(default_factory=lambda: PhaseFigures("start"))
    phases: list[PhaseFigures] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # item ids answered 201
    mailed: list[str] = field(default_factory=list)  # addresses answered 202
    unseen_writes: list[str] = field(default_factory=list)  # created, then read back as 404
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def begin(self, name: str) -> PhaseFigures:
        self.phase = PhaseFigures(name)
        self.phases.append(self.phase)
        return self.phase

    async def _send(
        self,
        caller: Caller,
        method: str,
        url: str,
        *,
        params: dict[str, int] | None = None,
        json: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        phase = self.phase  # an answer counts in the phase its request began in
        started = time.monotonic()
        try:
            response = await caller.client.request(
                method, url, params=params, json=json, headers=headers
            )
        except httpx.TransportError as error:
            phase.socket_errors[type(error).__name__] += 1
            await asyncio.sleep(0.05)
            return None
        phase.latencies.append(time.monotonic() - started)
        phase.statuses[response.status_code] += 1
        return response

    async def reader(self) -> None:
        caller = self.readers
        while not self.stopping.is_set():
            await self._send(
                caller, "GET", "/api/v1/items", params={"limit": 20}, headers=caller.headers
            )
            await self._send(caller, "GET", "/health")

    async def writer(self, number: int) -> None:
        sent = 0
        while not self.stopping.is_set():
            sent += 1
            # A client that must not lose or double a write says so: the edge may then
            # send it again to another node when the first one died holding it.
            caller = self.writers
            headers = {**caller.headers, "Idempotency-Key": str(uuid.uuid4())}
            body = {"title": f"stack-check writer {number} item {sent}", "price": "1.00"}
            response = await self._send(caller, "POST", "/api/v1/items", json=body, headers=headers)
            if response is None or response.status_code != 201:
                continue
            item_id = response.json()["id"]
            self.created.append(item_id)
            url = f"/api/v1/items/{item_id}"
            read_back = await self._send(caller, "GET", url, headers=caller.headers)
            if read_back is not None and read_back.status_code == 404:
                self.unseen_writes.append(item_id)

    async def mailer(self) -> None:
        """A reset e-mail for each address in turn: a job a worker does after the answer.
        Asking again is harmless (the same e-mail, within the per-address quota), so this
        client marks the request repeatable with an Idempotency-Key, as any client may."""
        for address in self.mail_accounts:
            if self.stopping.is_set():
                return
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            response = await self._send(
                self.writers,
                "POST",
                "/api/v1/auth/forgot-password",
                json={"email": address},
                headers=headers,
            )
            if response is not None and response.status_code == 202:
                self.mailed.append(address)
            await asyncio.sleep(MAIL_EVERY_SECONDS)

    def run(self) -> list[asyncio.Task[None]]:
        return [
            *(asyncio.create_task(self.reader()) for _ in range(READERS)),
            *(asyncio.create_task(self.writer(n)) for n in range(WRITERS)),
            asyncio.create_task(self.mailer()),
        ]


async def register(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    if response.status_code != 201:
        raise RuntimeError(f"registering {email}: {response.status_code} {response.text}")


async def access_token(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post(
        "/api/v1/auth/jwt/login", data={"username": email, "password": PASSWORD}
    )
    if response.status_code != 200:
        raise RuntimeError(f"logging in {email}: {response.status_code} {response.text}")
    return str(response.json()["access_token"])
