from typing import Any

import httpx

from tests.accounts import Account

ITEMS = "/api/v1/items"


async def create_item(client: httpx.AsyncClient, owner: Account, **fields: Any) -> dict[str, Any]:
    body = {"title": "espresso", "price": "12.50"} | fields
    response = await client.post(ITEMS, headers=owner.headers, json=body)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error
