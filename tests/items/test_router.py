"""Every /api/v1/items route and validation rule (README, "Items"), through HTTP."""

import uuid
from typing import Any

import httpx
import pytest

from tests.accounts import Account
from tests.items.helpers import ITEMS, create_item, error_of

# --- create -------------------------------------------------------------------------------


async def test_create_returns_the_item_with_location_and_etag(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(
        ITEMS,
        headers=alice.headers,
        json={"title": "  Espresso machine  ", "price": 12.5, "tags": ["kitchen", "coffee"]},
    )
    assert response.status_code == 201
    item = response.json()
    assert response.headers["location"] == f"/api/v1/items/{item['id']}"
    assert response.headers["etag"] == '"1"'
    assert set(item) == {
        "id", "title", "description", "price", "quantity", "tags", "owner_id",
        "created_at", "updated_at", "version",
    }  # fmt: skip
    assert item["title"] == "Espresso machine"  # trimmed
    assert (item["price"], item["quantity"], item["description"]) == ("12.50", 0, None)
    assert (item["tags"], item["owner_id"], item["version"]) == (["kitchen", "coffee"], alice.id, 1)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [(3, "3.00"), ("3.1", "3.10"), (0.01, "0.01"), ("9999999999.99", "9999999999.99")],
)
async def test_price_is_accepted_as_number_or_string_and_served_as_a_string(
    client: httpx.AsyncClient, alice: Account, sent: object, stored: str
) -> None:
    assert (await create_item(client, alice, price=sent))["price"] == stored


INVALID = [
    ({"title": ""}, "body.title"),
    ({"title": "   "}, "body.title"),
    ({"title": "x" * 101}, "body.title"),
    ({"description": "x" * 2001}, "body.description"),
    ({"price": 0}, "body.price"),
    ({"price": "-1"}, "body.price"),
    ({"price": "1.005"}, "body.price"),
    ({"price": "abc"}, "body.price"),
    ({"price": "NaN"}, "body.price"),
    ({"price": "10000000000.00"}, "body.price"),
    ({"quantity": -1}, "body.quantity"),
    ({"quantity": 10001}, "body.quantity"),
    ({"quantity": 1.5}, "body.quantity"),
    ({"tags": [f"t{i}" for i in range(11)]}, "body.tags"),
    ({"tags": ["a", "a"]}, "body.tags"),
    ({"tags": ["x" * 31]}, "body.tags.0"),
    ({"tags": [""]}, "body.tags.0"),
    ({"title": None}, "body.title"),
]


@pytest.mark.parametrize(("change", "loc"), INVALID, ids=[str(c) for c, _ in INVALID])
async def test_invalid_fields_are_422_with_the_field_named(
    client: httpx.AsyncClient, alice: Account, change: dict[str, Any], loc: str
) -> None:
    body = {"title": "espresso", "price": "12.50"} | change
    response = await client.post(ITEMS, headers=alice.headers, json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert loc in {field["loc"] for field in error["fields"]}


async def test_a_missing_price_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post(ITEMS, headers=alice.headers, json={"title": "espresso"})
    assert {f["loc"] for f in error_of(response)["fields"]} == {"body.price"}


async def test_items_need_a_token(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", ITEMS), ("POST", ITEMS), ("GET", f"{ITEMS}/{uuid.uuid4()}")]:
        response = await client.request(method, path, json={})
        assert response.status_code == 401


# --- get ----------------------------------------------------------------------------------


async def test_get_returns_the_item_with_its_etag(
    client: httpx.AsyncClient, alice: Account
) -> None:
    item = await create_item(client, alice)
    response = await client.get(f"{ITEMS}/{item['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == item
    assert response.headers["etag"] == '"1"'


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', '"7", "1"', "*"])
async def test_if_none_match_naming_the_current_version_is_304_with_the_etag_and_no_body(
    client: httpx.AsyncClient, alice: Account, if_none_match: str
) -> None:
    item = await create_item(client, alice)
    headers = alice.headers | {"If-None-Match": if_none_match}
    response = await client.get(f"{ITEMS}/{item['id']}", headers=headers)
    assert response.status_code == 304
    assert response.headers["etag"] == '"1"'
    assert response.content == b""


async def test_if_none_match_naming_an_old_version_gets_the_item(
    client: httpx.AsyncClient, alice: Account
) -> None:
    item = await create_item(client, alice)
    await client.patch(f"{ITEMS}/{item['id']}", json={"title": "renamed"}, headers=alice.headers)
    headers = alice.headers | {"If-None-Match": '"1"'}
    response = await client.get(f"{ITEMS}/{item['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json()["title"] == "renamed"
    assert response.headers["etag"] == '"2"'


async def test_if_none_match_on_someone_elses_item_is_still_404(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    bobs = await create_item(client, bob)
    headers = alice.headers | {"If-None-Match": "*"}
    response = await client.get(f"{ITEMS}/{bobs['id']}", headers=headers)
    assert response.status_code == 404


async def test_an_if_none_match_over_its_documented_length_is_422(
    client: httpx.AsyncClient, alice: Account
) -> None:
    item = await create_item(client, alice)
    headers = alice.headers | {"If-None-Match": '"1", ' * 205}
    response = await client.get(f"{ITEMS}/{item['id']}", headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "VALIDATION_ERROR")


async def test_missing_malformed_and_someone_elses_items_look_the_same(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    bobs = await create_item(client, bob)
    answers = [
        await client.get(f"{ITEMS}/{item_id}", headers=alice.headers)
        for item_id in (uuid.uuid4(), "not-a-uuid", bobs["id"])
    ]
    for response in answers:
        assert response.status_code == 404
        error = error_of(response)
        assert (error["code"], error["detail"]) == ("ITEM_NOT_FOUND", "Item not found")


async def test_superusers_see_everyones_items(
    client: httpx.AsyncClient, alice: Account, admin: Account
) -> None:
    item = await create_item(client, alice)
    response = await client.get(f"{ITEMS}/{item['id']}", headers=admin.headers)
    assert response.status_code == 200


# --- patch --------------------------------------------------------------------------------


async def test_patch_changes_only_what_is_sent_and_bumps_the_version(
    client: httpx.AsyncClient, alice: Account
) -> None:
    item = await create_item(client, alice, description="old", tags=["a"])
    response = await client.patch(
        f"{ITEMS}/{item['id']}", headers=alice.headers, json={"title": "new"}
    )
    assert response.status_code == 200
    patched = response.json()
    assert (patched["title"], patched["description"], patched["tags"]) == ("new", "old", ["a"])
    assert patched["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert patched["updated_at"] > item["updated_at"]


async def test_patch_can_clear_the_description_but_not_required_fields(
    client: httpx.AsyncClient, alice: Account
) -> None:
    item = await create_item(client, alice, description="old")
    url = f"{ITEMS}/{item['id']}"
    cleared = await client.patch(url, headers=alice.headers, json={"description": None})
    assert cleared.json()["description"] is None
    for field in ("title", "price", "quantity", "tags"):
        response = await client.patch(url, headers=alice.headers, json={field: None})
        assert response.status_code == 422, field
        assert [f["loc"] for f in error_of(response)["fields"]] == [f"body.{field}"]


async def test_patch_with_the_current_version_succeeds(
    client: httpx.AsyncClient, alice: Account
) -> None:
    item = await create_item(client, alice)
    for if_match in ('"1"', '"2"', "*", 'W/"4"'):  # each success moves the version on
        response = await client.patch(
            f"{ITEMS}/{item['id']}",
            headers=alice.headers | {"If-Match": if_match},
            json={"quantity": 5},
        )
        assert response.status_code == 200, if_match


@pytest.mark.parametrize(
    "if_match", ['"7"', '"0"', "garbage", '""', '"99999999999999999999"', '"²"']
)
async def test_patch_with_a_stale_version_is_412_and_changes_nothing(
    client: httpx.AsyncClient, alice: Account, if_match: str
) -> None:
    item = await create_item(client, alice)
    headers = [(name.encode(), value.encode()) for name, value in alice.headers.items()]
    response = await client.patch(
        f"{ITEMS}/{item['id']}",
        headers=[*headers, (b"If-Match", if_match.encode("latin-1"))],  # raw bytes, as sent
        json={"title": "new"},
    )
    assert response.status_code == 412
    assert error_of(response)["code"] == "PRECONDITION_FAILED"
    unchanged = await client.get(f"{ITEMS}/{item['id']}", headers=alice.headers)
    assert (unchanged.json()["title"], unchanged.json()["version"]) == ("espresso", 1)


async def test_patching_someone_elses_item_is_404_even_with_if_match(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    bobs = await create_item(client, bob)
    for headers in ({}, {"If-Match": '"9"'}):
        response = await client.patch(
            f"{ITEMS}/{bobs['id']}", headers=alice.headers | headers, json={"title": "mine"}
        )
        assert response.status_code == 404


async def test_patch_invalid_value_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    item = await create_item(client, alice)
    response = await client.patch(
        f"{ITEMS}/{item['id']}", headers=alice.headers, json={"price": "0"}
    )
    assert response.status_code == 422
    assert {f["loc"] for f in error_of(response)["fields"]} == {"body.price"}


# --- delete -------------------------------------------------------------------------------


async def test_delete_removes_the_item(client: httpx.AsyncClient, alice: Account) -> None:
    item = await create_item(client, alice)
    assert (await client.delete(f"{ITEMS}/{item['id']}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"{ITEMS}/{item['id']}", headers=alice.headers)).status_code == 404
    assert (await client.delete(f"{ITEMS}/{item['id']}", headers=alice.headers)).status_code == 404


async def test_deleting_someone_elses_item_is_404_and_keeps_it(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    bobs = await create_item(client, bob)
    assert (await client.delete(f"{ITEMS}/{bobs['id']}", headers=alice.headers)).status_code == 404
    assert (await client.get(f"{ITEMS}/{bobs['id']}", headers=bob.headers)).status_code == 200


async def test_deleting_a_user_deletes_their_items(
    client: httpx.AsyncClient, alice: Account, admin: Account
) -> None:
    item = await create_item(client, alice)
    assert (await client.delete("/api/v1/users/me", headers=alice.headers)).status_code == 204
    assert (await client.get(f"{ITEMS}/{item['id']}", headers=admin.headers)).status_code == 404


# --- idempotent create --------------------------------------------------------------------


async def test_replaying_an_idempotency_key_returns_the_first_response_and_creates_nothing(
    client: httpx.AsyncClient, alice: Account
) -> None:
    headers = alice.headers | {"Idempotency-Key": "order-42"}
    body = {"title": "espresso", "price": "12.50"}
    first = await client.post(ITEMS, headers=headers, json=body)
    # The same body, spelled differently (price as a number), is the same request.
    replay = await client.post(ITEMS, headers=headers, json={"price": 12.5, "title": "espresso"})
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["etag"] == first.headers["etag"]
    listed = await client.get(ITEMS, headers=alice.headers)
    assert [item["id"] for item in listed.json()["data"]] == [first.json()["id"]]


async def test_an_idempotency_key_with_another_body_is_409(
    client: httpx.AsyncClient, alice: Account
) -> None:
    headers = alice.headers | {"Idempotency-Key": "order-43"}
    await client.post(ITEMS, headers=headers, json={"title": "espresso", "price": "12.50"})
    response = await client.post(
        ITEMS, headers=headers, json={"title": "espresso", "price": "13.00"}
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_idempotency_keys_belong_to_one_user(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    body = {"title": "espresso", "price": "12.50"}
    first = await client.post(ITEMS, headers=alice.headers | {"Idempotency-Key": "k"}, json=body)
    second = await client.post(ITEMS, headers=bob.headers | {"Idempotency-Key": "k"}, json=body)
    assert first.json()["id"] != second.json()["id"]
    assert second.json()["owner_id"] == bob.id


async def test_an_idempotency_key_over_255_chars_is_422(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(
        ITEMS,
        headers=alice.headers | {"Idempotency-Key": "k" * 256},
        json={"title": "espresso", "price": "1"},
    )
    assert response.status_code == 422
    assert {f["loc"] for f in error_of(response)["fields"]} == {"header.idempotency-key"}


async def test_an_expired_idempotency_key_starts_afresh(
    client: httpx.AsyncClient, alice: Account, connection: Any
) -> None:
    from sqlalchemy import text

    headers = alice.headers | {"Idempotency-Key": "old"}
    first = await client.post(ITEMS, headers=headers, json={"title": "a", "price": "1"})
    await connection.execute(
        text("UPDATE item_idempotency_keys SET created_at = now() - interval '25 hours'")
    )
    again = await client.post(ITEMS, headers=headers, json={"title": "b", "price": "2"})
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]


async def test_the_schema_documents_if_none_match_and_304(client: httpx.AsyncClient) -> None:
    get_item = (await client.get("/openapi.json")).json()["paths"]["/api/v1/items/{item_id}"]["get"]
    assert "If-None-Match" in [parameter["name"] for parameter in get_item["parameters"]]
    assert "ETag" in get_item["responses"]["304"]["headers"]
