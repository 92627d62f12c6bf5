"""Listing items: keyset pagination in every order, filters, cursors, a constant query count."""

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.accounts import Account
from tests.items.helpers import ITEMS, create_item, error_of

SORTS = ["created_at", "-created_at", "title", "-title", "price", "-price"]
# Letters only, so Python's order is the database collation's; few values, so many ties
# (ties are broken by id).
TITLES = ["alpha", "bravo", "charlie", "delta", "echo"]


async def page_through(
    client: httpx.AsyncClient, account: Account, limit: int, **params: Any
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        response = await client.get(ITEMS, headers=account.headers, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= limit
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def expected_order(items: list[dict[str, Any]], sort: str) -> list[str]:
    key = sort.removeprefix("-")

    def sort_key(item: dict[str, Any]) -> tuple[Any, uuid.UUID]:
        value = Decimal(item["price"]) if key == "price" else item[key]
        return value, uuid.UUID(item["id"])

    return [item["id"] for item in sorted(items, key=sort_key, reverse=sort.startswith("-"))]


@pytest.fixture
async def forty_five(client: httpx.AsyncClient, alice: Account) -> list[dict[str, Any]]:
    return [
        await create_item(client, alice, title=TITLES[i % 5], price=str(1 + i % 7))
        for i in range(45)
    ]


@pytest.mark.parametrize("sort", SORTS)
async def test_paging_through_45_items_returns_each_once_in_order(
    client: httpx.AsyncClient, alice: Account, forty_five: list[dict[str, Any]], sort: str
) -> None:
    seen = await page_through(client, alice, limit=7, sort=sort)
    assert [item["id"] for item in seen] == expected_order(forty_five, sort)


async def test_the_default_order_is_newest_first(
    client: httpx.AsyncClient, alice: Account, forty_five: list[dict[str, Any]]
) -> None:
    response = await client.get(ITEMS, headers=alice.headers, params={"limit": 100})
    assert [item["id"] for item in response.json()["data"]] == expected_order(
        forty_five, "-created_at"
    )


@pytest.mark.parametrize("sort", ["created_at", "title", "-price"])
async def test_paging_is_stable_while_items_are_added_and_removed(
    client: httpx.AsyncClient, alice: Account, forty_five: list[dict[str, Any]], sort: str
) -> None:
    seen: list[str] = []
    cursor = None
    removed: set[str] = set()
    for page_number in range(100):
        params: dict[str, Any] = {"limit": 5, "sort": sort} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(ITEMS, headers=alice.headers, params=params)).json()
        seen += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # Between pages: new items arrive, and an item not yet seen is deleted.
        await create_item(client, alice, title=TITLES[page_number % 5], price="3")
        unseen = [i["id"] for i in forty_five if i["id"] not in seen and i["id"] not in removed]
        if unseen:
            removed.add(unseen[-1])
            await client.delete(f"{ITEMS}/{unseen[-1]}", headers=alice.headers)
    assert len(seen) == len(set(seen))  # nothing twice
    original = {item["id"] for item in forty_five}
    assert original - removed <= set(seen)  # every surviving original item, at least once


async def test_users_see_only_their_own_items(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    mine = await create_item(client, alice)
    await create_item(client, bob)
    listed = (await client.get(ITEMS, headers=alice.headers)).json()["data"]
    assert [item["id"] for item in listed] == [mine["id"]]
    # Asking for someone else's items only narrows one's own view.
    response = await client.get(ITEMS, headers=alice.headers, params={"owner_id": bob.id})
    assert response.json()["data"] == []


async def test_superusers_see_all_and_may_filter_by_owner(
    client: httpx.AsyncClient, alice: Account, bob: Account, admin: Account
) -> None:
    alices = await create_item(client, alice)
    bobs = await create_item(client, bob)
    everything = (await client.get(ITEMS, headers=admin.headers)).json()["data"]
    assert {item["id"] for item in everything} == {alices["id"], bobs["id"]}
    only_bob = await client.get(ITEMS, headers=admin.headers, params={"owner_id": bob.id})
    assert [item["id"] for item in only_bob.json()["data"]] == [bobs["id"]]


async def test_q_matches_title_or_description_in_any_case_and_literally(
    client: httpx.AsyncClient, alice: Account
) -> None:
    by_title = await create_item(client, alice, title="Discount 50% off")
    by_description = await create_item(client, alice, title="mug", description="half_price \\o/")
    await create_item(client, alice, title="Discount 50 off", description="halfXprice")

    async def matching(q: str) -> set[str]:
        response = await client.get(ITEMS, headers=alice.headers, params={"q": q})
        return {item["id"] for item in response.json()["data"]}

    assert await matching("50%") == {by_title["id"]}
    assert await matching("DISCOUNT 50%") == {by_title["id"]}
    assert await matching("F_P") == {by_description["id"]}
    assert await matching("\\o") == {by_description["id"]}
    assert await matching("%") == {by_title["id"]}


async def test_tag_filters_by_tag(client: httpx.AsyncClient, alice: Account) -> None:
    tagged = await create_item(client, alice, tags=["kitchen", "sale"])
    await create_item(client, alice, tags=["kitchenware"])
    response = await client.get(ITEMS, headers=alice.headers, params={"tag": "kitchen"})
    assert [item["id"] for item in response.json()["data"]] == [tagged["id"]]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"sort": "owner_id"}, {"owner_id": "nope"}, {"q": "x" * 101}],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, alice: Account, params: dict[str, Any]
) -> None:
    response = await client.get(ITEMS, headers=alice.headers, params=params)
    assert response.status_code == 422


async def test_tampered_or_foreign_cursors_are_400(
    client: httpx.AsyncClient, alice: Account, forty_five: list[dict[str, Any]]
) -> None:
    page = await client.get(ITEMS, headers=alice.headers, params={"limit": 5, "sort": "price"})
    cursor = page.json()["next_cursor"]
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for params in (
        {"cursor": tampered, "sort": "price"},
        {"cursor": cursor, "sort": "title"},  # another ordering's cursor
        {"cursor": "garbage!", "sort": "price"},
    ):
        response = await client.get(ITEMS, headers=alice.headers, params=params)
        assert response.status_code == 400
        assert error_of(response)["code"] == "INVALID_CURSOR"


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    executed: list[str] = []

    def record(*args: Any) -> None:
        statement: str = args[2]
        if "SAVEPOINT" not in statement:  # the test harness's, not the app's
            executed.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield executed
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_page_costs_the_same_number_of_queries_whatever_its_size(
    client: httpx.AsyncClient,
    alice: Account,
    forty_five: list[dict[str, Any]],
    statements: list[str],
) -> None:
    counts = []
    for limit in (1, 5, 40):
        statements.clear()
        response = await client.get(ITEMS, headers=alice.headers, params={"limit": limit})
        assert len(response.json()["data"]) == limit
        counts.append(len(statements))
    assert counts[0] == counts[1] == counts[2]
    assert counts[0] <= 2  # who is calling (one join), then the page
