"""Personal data through the real app and its in-process worker (real commits): a large
account's export is built in pieces and downloads whole; deleting the account erases it."""

import uuid

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.accounts import PASSWORD, create_account
from tests.jobs.harness import eventually
from tests.jobs.test_through_the_app import app_on, serving

ITEMS = 10_000


async def test_an_account_of_ten_thousand_items_is_exported_in_pieces(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    app = app_on(jobs_url, None, job_timeout_seconds=60)
    async with serving(app) as client:
        alice = await create_account(client, "alice")
        async with jobs_engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO items (id, title, price, quantity, tags, owner_id, created_at,"
                    " updated_at, version) SELECT gen_random_uuid(), 'item ' || n, 1.00, 0,"
                    " '{}', :owner, now(), now(), 1 FROM generate_series(1, :n) AS n"
                ),
                {"owner": alice.id, "n": ITEMS},
            )
        requested = await client.post("/api/v1/users/me/export", headers=alice.headers)
        assert requested.status_code == 202
        url = f"/api/v1/users/me/exports/{requested.json()['id']}"

        async def ready() -> bool:
            status: str = (await client.get(url, headers=alice.headers)).json()["status"]
            return status == "ready"

        await eventually(ready, within=60)
        download = await client.get(f"{url}/download", headers=alice.headers)
        async with jobs_engine.connect() as connection:
            pieces = await connection.scalar(
                text("SELECT count(*) FROM data_export_chunks WHERE export_id = :id"),
                {"id": uuid.UUID(requested.json()["id"])},
            )
        deleted = await client.request(
            "DELETE", "/api/v1/users/me", headers=alice.headers, json={"password": PASSWORD}
        )
        assert deleted.status_code == 204
        await eventually(lambda: _audit_names_nobody(jobs_engine, alice.id), within=30)
    assert download.status_code == 200
    items = download.json()["modules"]["items"]["items"]
    assert len(items) == ITEMS
    assert len({item["id"] for item in items}) == ITEMS
    assert pieces is not None and pieces > 1  # written, and served, piece by piece


async def _audit_names_nobody(engine: AsyncEngine, user_id: str) -> bool:
    """The events naming the account are there, stripped of what names a person."""
    async with engine.connect() as connection:
        kept, personal = (
            await connection.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE ip IS NOT NULL OR user_agent IS"
                    " NOT NULL OR details <> '{}') FROM audit_events"
                    " WHERE actor_id = :id OR target_id = :id"
                ),
                {"id": user_id},
            )
        ).one()
    return bool(kept) and personal == 0
