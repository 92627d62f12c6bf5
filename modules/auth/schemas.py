from typing import Literal

from pydantic import BaseModel, EmailStr, Field


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
    password: str


class VerifyRequest(BaseModel):
    token: str = Field(max_length=2048)
