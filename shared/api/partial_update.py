"""The base of PATCH bodies: a field left out stays as it is; a field sent as null is cleared
where clearing makes sense (`nullable`) and refused everywhere else, with a 422 naming it."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _null_only_where_allowed_in_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The schema says what the validator below does: a field may be left out, but only the
    `nullable` ones may be null (a generated client then types the others as not null)."""
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, field in schema.get("properties", {}).items():
        branches = field.get("anyOf")
        if name in nullable or not branches:
            continue
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            del field["anyOf"]
            field.update(kept[0])
        else:
            field["anyOf"] = kept


class PartialUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra=_null_only_where_allowed_in_schema)

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_allowed(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for the fields the client sent.
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null (leave the field out to keep its value)")
        return value
