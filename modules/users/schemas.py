import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi_users import schemas
from pydantic import BaseModel, ConfigDict, EmailStr, Field, computed_field
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from shared.api.pagination import Page
from shared.api.partial_update import PartialUpdate

FullName = Field(default=None, max_length=100, examples=["Ada Lovelace"])
RoleName = Annotated[
    str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_-]+$", examples=["auditor"])
]
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
# The length rules in the schema only: the user manager checks them (with the others) and
# answers 400 with fastapi-users' codes, as the API promises, not pydantic's 422.
NEW_PASSWORD_RULES: JsonDict = {"minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH}
NEW_PASSWORD_DESCRIPTION = (
    f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters, not containing the e-mail,"
    " not a common password."
)


class UserRead(BaseModel):
    """A user as the API shows it: never a password hash."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: EmailStr
    full_name: str | None
    is_active: bool
    is_superuser: bool
    is_verified: bool
    mfa_enabled: bool = Field(description="Two-factor login (TOTP) is on.")
    created_at: datetime
    roles: list[str] = Field(default_factory=list, description="Role names, sorted.")


class UserMe(UserRead):
    """The caller's own account, with what they may do."""

    permissions: list[str] = Field(
        description="The caller's effective permissions, sorted (for an API key: those both "
        "in its scopes and held by its owner).",
        examples=[["items:read", "items:write"]],
    )


class UserCreate(schemas.BaseUserCreate):
    """Registration."""

    email: EmailStr = Field(examples=["ada@example.com"])
    password: str = Field(
        examples=["correct horse battery staple"],
        description=NEW_PASSWORD_DESCRIPTION,
        json_schema_extra=NEW_PASSWORD_RULES,
    )
    full_name: str | None = FullName
    # fastapi-users' `safe` create ignores the privilege fields its base model carries: kept
    # out of the schema, so no client thinks it can set them.
    is_active: SkipJsonSchema[bool | None] = True
    is_superuser: SkipJsonSchema[bool | None] = False
    is_verified: SkipJsonSchema[bool | None] = False


class UserSelfUpdate(PartialUpdate):
    """PATCH /users/me: privilege fields are not accepted (and ignored if sent)."""

    nullable = frozenset({"full_name", "current_password"})

    email: EmailStr | None = None
    full_name: str | None = FullName
    password: str | None = Field(
        default=None, description=NEW_PASSWORD_DESCRIPTION, json_schema_extra=NEW_PASSWORD_RULES
    )
    current_password: str | None = Field(
        default=None, description="Required when `email` or `password` changes."
    )


class UserAdminUpdate(schemas.BaseUserUpdate, PartialUpdate):
    """PATCH /users/{id} by a superuser: may also set the privilege fields."""

    nullable = frozenset({"full_name"})

    full_name: str | None = FullName
    password: str | None = Field(
        default=None, description=NEW_PASSWORD_DESCRIPTION, json_schema_extra=NEW_PASSWORD_RULES
    )
    mfa_enabled: Literal[False] | None = Field(
        default=None,
        description="`false` turns the user's two-factor login off (account recovery); it "
        "can only be turned on by the user.",
    )
    roles: list[RoleName] | None = Field(
        default=None,
        max_length=50,
        description="Role names: the list replaces the user's roles (superusers only).",
    )


class UserPage(Page[UserRead]):
    """A page of users."""


PermissionName = Annotated[str, Field(max_length=100, examples=["audit:read"])]
RoleDescription = Field(default=None, max_length=200, examples=["Reads the audit trail"])
PermissionNames = Field(
    max_length=200, description="Declared permission names (`GET /api/v1/permissions`)."
)


class RoleCreate(BaseModel):
    name: RoleName
    description: str | None = RoleDescription
    permissions: list[PermissionName] = PermissionNames


class RoleUpdate(PartialUpdate):
    """A partial update: holders (and their API keys) have the new permissions at once."""

    nullable = frozenset({"description"})

    name: RoleName | None = None
    description: str | None = RoleDescription
    permissions: list[PermissionName] | None = Field(
        default=None, max_length=200, description=PermissionNames.description
    )


class RoleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str = Field(examples=["auditor"])
    description: str | None
    permissions: list[str] = Field(examples=[["audit:read", "users:read"]])
    created_at: datetime


class RoleList(BaseModel):
    """Every role, sorted by name."""

    data: list[RoleRead]


class PermissionRead(BaseModel):
    name: str = Field(examples=["items:write"])
    module: str = Field(description="The module that declares it.", examples=["items"])
    description: str = Field(examples=["Create, change and delete items"])


class PermissionList(BaseModel):
    """Every declared permission, sorted by name."""

    data: list[PermissionRead]


class ExportRead(BaseModel):
    """A copy of the caller's data: `pending` while a job gathers it from every module, then
    `ready` to download until `expires_at`."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    requested_at: datetime
    completed_at: datetime | None = Field(description="When it became ready.")
    expires_at: datetime | None = Field(
        description="Ready exports: downloadable until then (EXPORT_RETENTION_DAYS), then gone."
    )

    @computed_field(examples=["ready"])  # type: ignore[prop-decorator]
    @property
    def status(self) -> Literal["pending", "ready"]:
        return "pending" if self.completed_at is None else "ready"


class ExportList(BaseModel):
    """The caller's exports, newest first (they are purged once expired)."""

    data: list[ExportRead]
