import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from modules.users.public import NEW_PASSWORD_DESCRIPTION, NEW_PASSWORD_RULES
from shared.api.error_handlers import ErrorBody
from shared.api.pagination import Page


class TokenPair(BaseModel):
    access_token: str = Field(description="A JWT for `Authorization: Bearer …`.")
    refresh_token: str = Field(description="Opaque; single use: each refresh returns a new one.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token kind, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.", examples=[900])


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=512)


class EmailRequest(BaseModel):
    email: EmailStr = Field(examples=["ada@example.com"])


class ResetPasswordRequest(BaseModel):
    token: str = Field(max_length=2048)
    password: str = Field(
        description=NEW_PASSWORD_DESCRIPTION, json_schema_extra=NEW_PASSWORD_RULES
    )


class VerifyRequest(BaseModel):
    token: str = Field(max_length=2048)


# A TOTP code: 6 digits. Where a recovery code is accepted too: or 16 base32 characters,
# with or without the dashes they are shown with (or 10, a code made before the 80-bit rule).
TotpCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", examples=["123456"])]
SecondFactorCode = Annotated[
    str,
    Field(
        pattern=r"^([0-9]{6}|[A-Za-z2-7]{4}(-?[A-Za-z2-7]{4}){3}|[A-Za-z2-7]{5}-?[A-Za-z2-7]{5})$",
        description="A TOTP code (6 digits) or an unused recovery code.",
        examples=["123456", "ABCD-EFGH-JK23-MN45"],
    ),
]


class MfaLoginRequest(BaseModel):
    mfa_token: str = Field(max_length=512, description="From the `401 MFA_REQUIRED` answer.")
    code: SecondFactorCode


class TwoFactorSetup(BaseModel):
    secret: str = Field(description="Base32; shown this once.", examples=["JBSWY3DPEHPK3PXP"])
    otpauth_uri: str = Field(
        description="For an authenticator app's QR code.",
        examples=[
            "otpauth://totp/modulith:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=modulith"
        ],
    )


class TwoFactorEnableRequest(BaseModel):
    code: TotpCode


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(
        description="10 single-use codes, each a substitute for a TOTP code; shown this once.",
        examples=[["ABCD-EFGH-JK23-MN45", "QRST-UVWX-Y234-567A"]],
    )


class ReauthRequest(BaseModel):
    password: str = Field(max_length=128)
    code: SecondFactorCode | None = Field(
        default=None, description="Required when two-factor login is on."
    )


class TwoFactorDisableRequest(BaseModel):
    current_password: str = Field(max_length=128)
    code: SecondFactorCode


class SessionRead(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime = Field(description="The last login or refresh.")
    expires_at: datetime
    ip: str | None = Field(description="The client address at login.")
    user_agent: str | None
    current: bool = Field(description="The session of the calling access token.")


class SessionPage(Page[SessionRead]):
    """A page of the caller's live sessions, newest first."""


class MfaRequiredBody(ErrorBody):
    mfa_token: str = Field(
        description="Opaque, single use, valid 5 minutes: trade it at /auth/jwt/login/2fa."
    )


class MfaRequiredEnvelope(BaseModel):
    """`401 MFA_REQUIRED`: the password was right; the second factor is next."""

    error: MfaRequiredBody


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["nightly export"])
    scopes: list[Annotated[str, Field(max_length=100)]] = Field(
        min_length=1,
        max_length=100,
        description="Permissions the key may use (`GET /api/v1/permissions`), each held by "
        "the caller.",
        examples=[["items:read"]],
    )
    expires_in_days: int = Field(default=90, ge=1, le=365)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    scopes: list[str]
    prefix: str = Field(description="The key's first 12 characters.", examples=["mlt_Xy3kP9aQ"])
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = Field(description="To the minute.")


class NewApiKey(ApiKeyRead):
    key: str = Field(
        description="The key, for `Authorization: Bearer …`: shown only in this answer."
    )


class ApiKeyList(BaseModel):
    """The caller's keys not revoked, newest first."""

    data: list[ApiKeyRead]
