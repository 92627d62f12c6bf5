"""Item shapes and every validation rule of the items API (README, "Items")."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from shared.api.pagination import Page
from shared.api.partial_update import PartialUpdate

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Field(examples=["Espresso machine"]),
]
Description = Annotated[str | None, Field(max_length=2000, examples=["Barely used."])]
# The string form of a price the server takes: more than zero, up to 10 digits before the
# point and 2 after.
PRICE_PATTERN = r"^\+?([1-9][0-9]{0,9}(\.[0-9]{0,2})?|0?\.(0[1-9]|[1-9][0-9]?))$"


def _document_price_string(schema: dict[str, Any]) -> None:
    # pydantic documents a Decimal as a number or any string: the string gets its pattern.
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "string":
            branch["pattern"] = PRICE_PATTERN


# Numbers or strings in, a string with two places out ("12.50"): no float rounding anywhere.
Price = Annotated[
    Decimal,
    Field(
        gt=0,
        max_digits=12,
        decimal_places=2,
        allow_inf_nan=False,
        examples=["12.50"],
        json_schema_extra=_document_price_string,
    ),
    PlainSerializer(lambda price: f"{price:.2f}", return_type=str, when_used="json"),
]
Quantity = Annotated[int, Field(ge=0, le=10000, examples=[3])]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]


def _unique(tags: list[str]) -> list[str]:
    if len(set(tags)) != len(tags):
        raise ValueError("tags must be unique")
    return tags


Tags = Annotated[
    list[Tag], Field(max_length=10, examples=[["kitchen", "coffee"]]), AfterValidator(_unique)
]
Sort = Literal["created_at", "-created_at", "title", "-title", "price", "-price"]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: Title
    description: Description = None
    price: Price
    quantity: Quantity = 0
    tags: Tags = []


class ItemUpdate(PartialUpdate):
    """A partial update: only the fields sent change. `description` may be set to null."""

    nullable = frozenset({"description"})

    title: Title | None = None
    description: Description = None
    price: Price | None = None
    quantity: Quantity | None = None
    tags: Tags | None = None


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    description: str | None
    price: Price
    quantity: int
    tags: list[str]
    owner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    version: int


class ItemPage(Page[ItemRead]):
    """A page of items."""
