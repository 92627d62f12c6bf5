"""The base of PATCH bodies: a field left out stays as it is; a field sent as null is cleared
where clearing makes sense (`nullable`) and refused everywhere else, with a 422 naming it."""

from typing import Any, ClassVar

from pydantic import BaseModel, ValidationInfo, field_validator


class PartialUpdate(BaseModel):
    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_allowed(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for the fields the client sent.
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null (leave the field out to keep its value)")
        return value
