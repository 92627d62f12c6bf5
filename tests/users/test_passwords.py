"""Password hashing never runs on the event loop's thread."""

import threading
from collections.abc import Callable

from dependency_injector import providers
from fastapi import FastAPI
from fastapi_users.password import PasswordHelper
from sqlalchemy.ext.asyncio import AsyncConnection

from modules.users.common_passwords import common_passwords, is_common
from modules.users.passwords import PasswordHasher
from tests.accounts import PASSWORD, new_email
from tests.conftest import bind_to_connection, http_client


class ThreadRecordingHelper(PasswordHelper):
    """fastapi-users' real helper, noting the thread each hash and verify runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def hash(self, password: str) -> str:
        self.threads.append(threading.get_ident())
        return super().hash(password)

    def verify_and_update(self, plain: str, hashed: str) -> tuple[bool, str | None]:
        self.threads.append(threading.get_ident())
        return super().verify_and_update(plain, hashed)


async def test_register_login_and_a_failed_login_hash_off_the_event_loop(
    app_factory: Callable[..., FastAPI], connection: AsyncConnection
) -> None:
    hasher = PasswordHasher()
    recording = ThreadRecordingHelper()
    hasher.helper = recording
    app = app_factory()
    bind_to_connection(app, connection)
    app.state.container.users.password_hasher.override(providers.Object(hasher))
    loop_thread = threading.get_ident()
    email = new_email()
    async with http_client(app) as client:
        await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        ok = await client.post(
            "/api/v1/auth/jwt/login", data={"username": email, "password": PASSWORD}
        )
        unknown = await client.post(
            "/api/v1/auth/jwt/login", data={"username": new_email(), "password": PASSWORD}
        )
    assert (ok.status_code, unknown.status_code) == (200, 400)
    # register hashes; login verifies; the unknown e-mail still pays for a (dummy) hash.
    assert len(recording.threads) == 3
    assert loop_thread not in recording.threads


async def test_forgot_password_costs_one_hash_whether_or_not_the_account_exists(
    app_factory: Callable[..., FastAPI], connection: AsyncConnection
) -> None:
    hasher = PasswordHasher()
    recording = ThreadRecordingHelper()
    hasher.helper = recording
    app = app_factory()
    bind_to_connection(app, connection)
    email = new_email()
    async with http_client(app) as client:
        await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        app.state.container.users.password_hasher.override(providers.Object(hasher))
        for address in (email, new_email()):
            recording.threads.clear()
            response = await client.post("/api/v1/auth/forgot-password", json={"email": address})
            assert response.status_code == 202
            assert len(recording.threads) == 1, address  # existing and unknown alike


async def test_hashing_concurrency_is_bounded() -> None:
    hasher = PasswordHasher(max_concurrency=1)
    assert hasher.limiter.total_tokens == 1
    hashed = await hasher.hash(PASSWORD)
    assert await hasher.verify_and_update(PASSWORD, hashed) == (True, None)
    assert (await hasher.verify_and_update("wrong-password", hashed))[0] is False


def test_the_common_password_list_has_the_most_used_passwords_of_breach_corpora() -> None:
    assert len(common_passwords()) >= 10_000
    assert len([p for p in common_passwords() if 8 <= len(p) <= 128]) >= 10_000
    assert is_common("Password1") and is_common("12345678")
    assert not is_common(PASSWORD)


def test_hashing_admits_a_second_of_work_per_thread_but_never_half_the_pool_or_more() -> None:
    assert PasswordHasher(max_concurrency=1, database_connections=20).max_admitted == 9
    # Seven threads would admit 63: the cap leaves the other routes half of 20 connections.
    assert PasswordHasher(max_concurrency=7, database_connections=20).max_admitted == 10
    assert PasswordHasher(max_concurrency=1, database_connections=2).max_admitted == 1
