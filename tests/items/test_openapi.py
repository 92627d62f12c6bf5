"""The items routes document their headers and errors for API clients."""

import re
from typing import Any

import httpx
from fastapi import FastAPI

from tests.accounts import Account


def operation(app: FastAPI, path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = app.openapi()["paths"][path][method]
    return found


def header_parameters(op: dict[str, Any]) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}


def test_create_documents_idempotency_key_location_etag_and_errors(app: FastAPI) -> None:
    create = operation(app, "/api/v1/items", "post")
    assert header_parameters(create) == {"idempotency-key"}
    responses = create["responses"]
    assert {"ETag", "Location"} <= set(responses["201"]["headers"])
    assert {"401", "409", "413", "422", "503"} <= set(responses)


def test_single_item_routes_document_etag_if_match_and_errors(app: FastAPI) -> None:
    get = operation(app, "/api/v1/items/{item_id}", "get")
    patch = operation(app, "/api/v1/items/{item_id}", "patch")
    assert "ETag" in get["responses"]["200"]["headers"]
    assert "ETag" in patch["responses"]["200"]["headers"]
    assert header_parameters(patch) == {"if-match"}
    assert {"404", "412", "422"} <= set(patch["responses"])
    assert {"401", "404"} <= set(operation(app, "/api/v1/items/{item_id}", "delete")["responses"])


def test_list_documents_its_filters_and_the_cursor_error(app: FastAPI) -> None:
    listing = operation(app, "/api/v1/items", "get")
    assert {p["name"] for p in listing["parameters"]} == {
        "limit",
        "cursor",
        "q",
        "tag",
        "sort",
        "owner_id",
    }
    assert "400" in listing["responses"]


def test_every_response_declares_the_kernels_headers_and_public_routes_say_so(
    app: FastAPI,
) -> None:
    schema = app.openapi()
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            for status, response in op["responses"].items():
                headers = set(response.get("headers", {}))
                assert "X-Request-ID" in headers, f"{where} {status}"
                if "429" in op["responses"]:
                    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining"} <= headers
            assert "Retry-After" in op["responses"].get("429", {}).get(
                "headers", {"Retry-After": 0}
            )
            assert "security" in op, where  # public routes say `security: []`
            if path.startswith("/api/"):
                assert "503" in op["responses"], where
            if "requestBody" in op:
                assert "413" in op["responses"], where


def test_partial_updates_advertise_null_only_where_it_is_accepted(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    item_update = schemas["ItemUpdate"]["properties"]
    assert {"type": "null"} in item_update["description"]["anyOf"]  # clears it
    for refused in ("title", "price", "quantity", "tags"):
        assert {"type": "null"} not in item_update[refused].get("anyOf", []), refused
        assert item_update[refused].get("type") != "null"
    assert "required" not in schemas["ItemUpdate"]  # every field may be left out


def test_registration_advertises_no_privilege_field_and_the_password_rules(app: FastAPI) -> None:
    user_create = app.openapi()["components"]["schemas"]["UserCreate"]
    assert set(user_create["properties"]) == {"email", "password", "full_name"}
    password = user_create["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (8, 128)


def test_every_new_password_field_advertises_the_password_rules(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    for model in ("UserCreate", "UserSelfUpdate", "UserAdminUpdate"):
        password = schemas[model]["properties"]["password"]
        assert (password["minLength"], password["maxLength"]) == (8, 128), model


async def test_the_price_string_pattern_matches_what_the_server_takes(
    app: FastAPI, client: httpx.AsyncClient, alice: Account
) -> None:
    schema = app.openapi()["components"]["schemas"]["ItemCreate"]["properties"]["price"]
    [string_form] = [branch for branch in schema["anyOf"] if branch["type"] == "string"]
    pattern = re.compile(string_form["pattern"])
    samples = ["0.01", ".5", "1.", "+12.50", "9999999999.99", "0", "0.00", "1.005", "12345678901"]
    for price in samples:
        created = await client.post(
            "/api/v1/items", headers=alice.headers, json={"title": "t", "price": price}
        )
        accepted = created.status_code == 201
        assert accepted == bool(pattern.fullmatch(price)), (price, created.status_code)
