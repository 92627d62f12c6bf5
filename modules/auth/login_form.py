"""The login form: OAuth2's password flow fields, as FastAPI's `OAuth2PasswordRequestForm`
takes them, with the username bounded (it is recorded in audit entries kept a year)."""

from typing import Annotated

from fastapi import Depends, Form
from fastapi.security import OAuth2PasswordRequestForm

# The longest e-mail address (RFC 5321's path limit).
USERNAME_MAX_LENGTH = 320


async def login_form(
    username: Annotated[
        str, Form(max_length=USERNAME_MAX_LENGTH, description="The account's e-mail.")
    ],
    password: Annotated[str, Form(json_schema_extra={"format": "password"})],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form()] = "",
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
) -> OAuth2PasswordRequestForm:
    # A coroutine: FastAPI would call a plain function in its thread pool.
    return OAuth2PasswordRequestForm(
        grant_type=grant_type,
        username=username,
        password=password,
        scope=scope,
        client_id=client_id,
        client_secret=client_secret,
    )


LoginForm = Annotated[OAuth2PasswordRequestForm, Depends(login_form)]
