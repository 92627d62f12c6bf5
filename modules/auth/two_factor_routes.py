"""Two-factor login (TOTP): setting it up, turning it on and off, and the login's second step.

Wrong codes are answered, not raised: the failure's audit event (and, at login, the
account's failure count and the mfa_token's) must be committed with the answer.
"""

from fastapi import APIRouter, Response, status

from modules.audit.public import AuditTrailDep
from modules.users.public import UserManagerDep, account_of
from shared.api.auth import CurrentCaller
from shared.api.error_handlers import ErrorEnvelope, error_responses
from shared.data.db import UnitOfWork
from shared.edge.rate_limit import stricter_limit

from .dependencies import TwoFactorDep
from .errors import (
    MfaAlreadyEnabled,
    MfaInvalidCode,
    MfaNotEnabled,
    MfaNotSetUp,
    MfaTokenInvalid,
)
from .login_steps import LoginStepsDep
from .schemas import (
    MfaLoginRequest,
    RecoveryCodes,
    TokenPair,
    TwoFactorDisableRequest,
    TwoFactorEnableRequest,
    TwoFactorSetup,
)

router = APIRouter(prefix="/auth", tags=["auth"])  # joined into one by router.py


@router.post(
    "/jwt/login/2fa",
    response_model=TokenPair,
    summary="Log in, second step: trade the mfa_token and a code for a session",
    description="`code` is a TOTP code or an unused recovery code. Five wrong codes end the "
    "`mfa_token`. Wrong codes count as failed logins of the account (see `/auth/jwt/login`).",
    responses={
        **error_responses(400, 422),
        429: {"model": ErrorEnvelope, "description": "Rate limited, or `LOGIN_THROTTLED`"},
    },
)
@stricter_limit("login")
async def login_second_step(
    body: MfaLoginRequest,
    steps: LoginStepsDep,
    manager: UserManagerDep,
    two_factor: TwoFactorDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> TokenPair:
    challenge = await two_factor.open_challenge(session, body.mfa_token)
    user = await manager.user_db.get(challenge.user_id) if challenge else None
    if challenge is None or user is None or not user.is_active or not user.mfa_enabled:
        raise MfaTokenInvalid
    await steps.refuse_while_delayed(user.email, actor_id=user.id, step="2fa")
    factor = await two_factor.check(session, user.id, body.code)
    if factor is None:
        await two_factor.fail(session, challenge)
        await steps.count_failure(user.email)
        await audit.record("auth.2fa.failed", actor_id=user.id, details={"step": "login"})
        raise MfaInvalidCode
    await two_factor.redeem(session, challenge)
    return await steps.open_session(user, second_factor=factor.value)


@router.post(
    "/2fa/setup",
    summary="Start turning two-factor login on: a new pending TOTP secret",
    description="Replaces an earlier pending secret. Show `otpauth_uri` as a QR code, then "
    "confirm with `/auth/2fa/enable`. The secret is never shown again.",
    responses=error_responses(401, 409),
)
async def set_up_two_factor(
    caller: CurrentCaller, two_factor: TwoFactorDep, session: UnitOfWork
) -> TwoFactorSetup:
    user = account_of(caller)
    if user.mfa_enabled:
        raise MfaAlreadyEnabled
    pending = await two_factor.set_up(session, user.id, user.email)
    return TwoFactorSetup(secret=pending.secret, otpauth_uri=pending.otpauth_uri)


@router.post(
    "/2fa/enable",
    response_model=RecoveryCodes,
    summary="Turn two-factor login on with a code from the pending secret",
    description="Answers 10 single-use recovery codes, shown only this once.",
    responses=error_responses(400, 401, 409, 422),
)
async def enable_two_factor(
    body: TwoFactorEnableRequest,
    caller: CurrentCaller,
    manager: UserManagerDep,
    two_factor: TwoFactorDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> RecoveryCodes:
    user = account_of(caller)
    if user.mfa_enabled:
        raise MfaAlreadyEnabled
    if not await two_factor.has_pending_setup(session, user.id):
        raise MfaNotSetUp
    codes = await two_factor.confirm(session, user.id, body.code)
    if codes is None:
        await audit.record("auth.2fa.failed", actor_id=user.id, details={"step": "enable"})
        raise MfaInvalidCode
    await manager.set_mfa_enabled(user, True)
    await audit.record_on_user("auth.2fa.enabled", user.id)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/2fa/disable",
    summary="Turn two-factor login off",
    description="Needs the current password and a TOTP code or an unused recovery code.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 401, 409, 422),
)
async def disable_two_factor(
    body: TwoFactorDisableRequest,
    caller: CurrentCaller,
    manager: UserManagerDep,
    two_factor: TwoFactorDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    user = account_of(caller)
    if not user.mfa_enabled:
        raise MfaNotEnabled
    await manager.check_current_password(user, body.current_password)
    if await two_factor.check(session, user.id, body.code) is None:
        await audit.record("auth.2fa.failed", actor_id=user.id, details={"step": "disable"})
        raise MfaInvalidCode
    await two_factor.turn_off(session, user.id)
    await manager.set_mfa_enabled(user, False)
    await audit.record_on_user("auth.2fa.disabled", user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
