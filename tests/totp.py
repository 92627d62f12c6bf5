"""Two-factor login as a client does it: an authenticator app's codes, from the secret."""

import asyncio
import time
from dataclasses import dataclass

import httpx
import pyotp

from tests.accounts import Account

STEP = 30


@dataclass
class TwoFactorAccount:
    account: Account
    secret: str
    recovery_codes: list[str]

    def code(self, steps_from_now: int = 0) -> str:
        """The code of a step near now; the server accepts the previous, current and next
        step, each once, and never one older than the last it accepted."""
        return pyotp.TOTP(self.secret).at(time.time() + steps_from_now * STEP)


async def clear_of_a_step_boundary() -> None:
    """Wait out the last second of a 30 s step, so a code made now is checked in the same
    step (a boundary in between would shift which step it is)."""
    left = STEP - time.time() % STEP
    if left < 1.5:
        await asyncio.sleep(left + 0.05)


async def enable_two_factor(client: httpx.AsyncClient, account: Account) -> TwoFactorAccount:
    """Set up and turn on 2FA, confirmed with the previous step's code (the current and the
    next step's remain for the test)."""
    setup = await client.post("/api/v1/auth/2fa/setup", headers=account.headers)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    await clear_of_a_step_boundary()
    code = pyotp.TOTP(secret).at(time.time() - STEP)
    enabled = await client.post(
        "/api/v1/auth/2fa/enable", headers=account.headers, json={"code": code}
    )
    assert enabled.status_code == 200, enabled.text
    return TwoFactorAccount(account, secret, enabled.json()["recovery_codes"])


async def mfa_token(client: httpx.AsyncClient, account: Account) -> str:
    """The first step of a login with 2FA on: the password, answered with an mfa_token."""
    response = await client.post(
        "/api/v1/auth/jwt/login", data={"username": account.email, "password": account.password}
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "MFA_REQUIRED"
    return str(response.json()["error"]["mfa_token"])


async def second_step(client: httpx.AsyncClient, token: str, code: str) -> httpx.Response:
    return await client.post("/api/v1/auth/jwt/login/2fa", json={"mfa_token": token, "code": code})
