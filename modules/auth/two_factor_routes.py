"""Two-factor login (TOTP): setting it up, turning it on and off, and the login's second step.

Setting up, turning on and off need a recent password proof (sudo mode). Every code and
password checked here counts in the account's login throttle; the refusals commit, with their
audit entry (and, at login, the mfa_token's failure count).
"""

from fastapi import APIRouter, Response, status

from modules.audit.public import AuditTrailDep
from modules.users.public import InvalidCurrentPassword, PasswordWork, UserManagerDep, account_of
from shared.api.auth import PUBLIC, RecentlyAuthenticated
from shared.api.error_handlers import ErrorEnvelope, error_responses
from shared.api.route import ModuleRoute
from shared.data.db import UnitOfWork
from shared.edge.rate_limit import stricter_limit

from .dependencies import AccountEmailsDep, PasswordAttemptsDep, TwoFactorDep
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

router = APIRouter(
    prefix="/auth", tags=["auth"], route_class=ModuleRoute
)  # joined into one by router.py


@router.post(
    "/jwt/login/2fa",
    openapi_extra=PUBLIC,
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
    # Counting the attempt commits, which ends the challenge's lock: it is taken again.
    await steps.begin_attempt(user.email, user, step="2fa", actor_id=user.id)
    challenge = await two_factor.open_challenge(session, body.mfa_token)
    if challenge is None:  # used up meanwhile by a concurrent attempt
        raise MfaTokenInvalid
    factor = await two_factor.check(session, user.id, body.code)
    if factor is None:
        await two_factor.fail(session, challenge)
        await audit.record("auth.2fa.failed", actor_id=user.id, details={"step": "login"})
        raise MfaInvalidCode
    await two_factor.redeem(session, challenge)
    return await steps.open_session(user, second_factor=factor.value)


@router.post(
    "/2fa/setup",
    summary="Start turning two-factor login on: a new pending TOTP secret",
    description="Replaces an earlier pending secret. Show `otpauth_uri` as a QR code, then "
    "confirm with `/auth/2fa/enable`. The secret is never shown again. Needs a password proved "
    "within `REAUTH_WINDOW_MINUTES` (at login or with `/auth/reauth`), else `401 "
    "REAUTH_REQUIRED`.",
    responses=error_responses(401, 403, 409),
)
async def set_up_two_factor(
    caller: RecentlyAuthenticated, two_factor: TwoFactorDep, session: UnitOfWork
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
    description="Answers 10 single-use recovery codes, shown only this once. Needs a recent "
    "password proof, as `/auth/2fa/setup`.",
    responses=error_responses(400, 401, 403, 409, 422),
)
async def enable_two_factor(
    body: TwoFactorEnableRequest,
    caller: RecentlyAuthenticated,
    manager: UserManagerDep,
    two_factor: TwoFactorDep,
    account_emails: AccountEmailsDep,
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
    await account_emails.send_two_factor_changed(session, user, enabled=True)
    await audit.record_on_user("auth.2fa.enabled", user.id)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/2fa/disable",
    dependencies=[PasswordWork],
    summary="Turn two-factor login off",
    description="Needs the current password and a TOTP code or an unused recovery code, and a "
    "recent password proof, as `/auth/2fa/setup`. A wrong password or code counts as a failed "
    "login of the account.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **error_responses(400, 401, 403, 409, 422),
        429: {"model": ErrorEnvelope, "description": "Rate limited, or `LOGIN_THROTTLED`"},
    },
)
async def disable_two_factor(
    body: TwoFactorDisableRequest,
    caller: RecentlyAuthenticated,
    manager: UserManagerDep,
    two_factor: TwoFactorDep,
    attempts: PasswordAttemptsDep,
    account_emails: AccountEmailsDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    user = account_of(caller)
    if not user.mfa_enabled:
        raise MfaNotEnabled
    try:
        await manager.check_current_password(user, body.current_password, completes_proof=False)
    except InvalidCurrentPassword:
        await audit.record_on_user("auth.reauth.failed", user.id, details={"route": "2fa.disable"})
        raise
    if await two_factor.check(session, user.id, body.code) is None:
        await audit.record_on_user(
            "auth.reauth.failed", user.id, details={"route": "2fa.disable", "factor": "2fa"}
        )
        raise MfaInvalidCode
    await attempts.succeeded(session, user)
    await two_factor.turn_off(session, user.id)
    await manager.set_mfa_enabled(user, False)
    await account_emails.send_two_factor_changed(session, user, enabled=False)
    await audit.record_on_user("auth.2fa.disabled", user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
