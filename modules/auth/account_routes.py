"""/auth: registration, login, tokens, and the e-mailed password-reset and verification flows."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi_users import exceptions

from modules.audit.public import AuditTrailDep
from modules.users.public import PasswordWork, UserCreate, UserManagerDep, UserRead
from shared.api.auth import PUBLIC, SessionCaller
from shared.api.error_handlers import ErrorEnvelope, error_responses
from shared.api.provided import provided
from shared.api.route import ModuleRoute
from shared.data.db import UnitOfWork
from shared.edge.rate_limit import stricter_limit
from shared.settings import Settings

from .dependencies import LoginSessionsDep, LoginThrottlesDep, MailQuotasDep, TwoFactorDep
from .errors import (
    LoginBadCredentials,
    LoginUserNotVerified,
    MfaRequired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    RegisterInvalidPassword,
    RegisterUserAlreadyExists,
    ResetPasswordBadToken,
    ResetPasswordInvalidPassword,
    VerifyUserAlreadyVerified,
    VerifyUserBadToken,
)
from .login_form import LoginForm
from .login_sessions import ReusedToken
from .login_steps import LoginStepsDep
from .schemas import (
    EmailRequest,
    MfaRequiredEnvelope,
    RefreshRequest,
    ResetPasswordRequest,
    TokenPair,
    VerifyRequest,
)

router = APIRouter(
    prefix="/auth", tags=["auth"], route_class=ModuleRoute
)  # joined into one by router.py
THROTTLED = "Rate limited, or the account is throttled (`LOGIN_THROTTLED`): see `Retry-After`"


@router.post(
    "/register",
    openapi_extra=PUBLIC,
    dependencies=[PasswordWork],
    summary="Create an account",
    status_code=status.HTTP_201_CREATED,
    description="Password: 8 to 128 characters, not containing the e-mail. `is_superuser`, "
    "`is_active` and `is_verified` are ignored.",
    responses=error_responses(400, 409, 422),
)
@stricter_limit("sensitive")
async def register(
    body: UserCreate,
    manager: UserManagerDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
    request: Request,
) -> UserRead:
    try:
        user = await manager.create(body, safe=True, request=request)
    except exceptions.UserAlreadyExists:
        raise RegisterUserAlreadyExists from None
    except exceptions.InvalidPasswordException as error:
        raise RegisterInvalidPassword(str(error.reason)) from None
    await audit.record_on_user("users.registered", user.id)
    return UserRead.model_validate(user)


@router.post(
    "/jwt/login",
    openapi_extra=PUBLIC,
    dependencies=[PasswordWork],
    response_model=TokenPair,
    summary="Log in: open a session",
    description="OAuth2 password flow (form fields `username` = e-mail, `password`), so "
    "Swagger's Authorize button works. For a user with two-factor login on, the right "
    "password answers `401 MFA_REQUIRED` with an `mfa_token` for `/auth/jwt/login/2fa`. "
    "After `LOGIN_FAILURES_BEFORE_DELAY` failures in a row, the account waits (`429 "
    "LOGIN_THROTTLED`, from any address, even with the right password).",
    responses={
        **error_responses(400, 422),
        401: {"model": MfaRequiredEnvelope, "description": "Password right; second factor next"},
        429: {"model": ErrorEnvelope, "description": THROTTLED},
    },
)
@stricter_limit("login")
async def login(
    credentials: LoginForm,
    steps: LoginStepsDep,
    manager: UserManagerDep,
    two_factor: TwoFactorDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
    settings: Annotated[Settings, Depends(provided("settings"))],
) -> TokenPair:
    email = credentials.username
    account = await manager.find_by_email(email)
    await steps.begin_attempt(email, account, step="password", actor_id=None)
    user = account if await manager.check_password(account, credentials.password) else None
    if user is None or not user.is_active:
        await audit.record(
            "auth.login.failed",
            actor_id=user.id if user else None,
            target_type="user" if account else None,
            target_id=account.id if account else None,
            details={"email": email, "reason": "inactive" if user else "bad_credentials"},
        )
        raise LoginBadCredentials
    if settings.require_verified_login and not user.is_verified:
        await steps.password_was_right(email)
        raise LoginUserNotVerified
    if user.mfa_enabled:  # the password was right; the account's count clears at the 2nd step
        await steps.password_was_right(email)
        mfa_token = await two_factor.challenge(session, user.id)
        raise MfaRequired(mfa_token=mfa_token)
    return await steps.open_session(user, second_factor=None)


@router.post(
    "/jwt/refresh",
    openapi_extra=PUBLIC,
    response_model=TokenPair,
    summary="Trade a refresh token for a new pair",
    description="The refresh token is used up. Presented again within "
    "`REFRESH_REUSE_GRACE_SECONDS` (default 10) of its first use, it gets another pair of the "
    "same session (two tabs refreshing together both stay logged in); later, it revokes its "
    "whole session (`REFRESH_TOKEN_REUSED`).",
    responses=error_responses(401, 422),
)
async def refresh(
    body: RefreshRequest,
    login_sessions: LoginSessionsDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> TokenPair:
    result = await login_sessions.refresh(session, body.refresh_token)
    if isinstance(result, TokenPair):
        return result
    if isinstance(result, ReusedToken):
        await audit.record(
            "auth.refresh.reused",
            actor_id=result.user_id,
            target_type="session",
            target_id=result.session_id,
        )
        raise RefreshTokenReused
    raise RefreshTokenInvalid


@router.post(
    "/jwt/logout",
    summary="Log out: end this session",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403),
)
async def logout(
    caller: SessionCaller,
    login_sessions: LoginSessionsDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    await login_sessions.revoke(session, caller.login_session_id)
    await audit.record(
        "auth.logout",
        actor_id=caller.id,
        target_type="session",
        target_id=caller.login_session_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/jwt/logout-all",
    summary="Log out everywhere: end every session",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403),
)
async def logout_all(
    caller: SessionCaller,
    login_sessions: LoginSessionsDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    await login_sessions.revoke_all(session, caller.id)
    await audit.record_on_user("auth.logout_all", caller.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/forgot-password",
    openapi_extra=PUBLIC,
    dependencies=[PasswordWork],
    summary="E-mail a password-reset link",
    description="Always 202, whether or not the account exists. An address gets at most "
    "`EMAILS_PER_ADDRESS_PER_HOUR` reset and verification e-mails an hour; past that the "
    "answer is still 202.",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={202: {"description": "Accepted (no body)"}, **error_responses(422)},
)
@stricter_limit("sensitive")
async def forgot_password(
    body: EmailRequest,
    manager: UserManagerDep,
    mail_quotas: MailQuotasDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
    request: Request,
) -> Response:
    account = await manager.find_by_email(body.email)
    if await mail_quotas.take(session, body.email):
        await manager.request_password_reset(account, body.email, request)
    await audit.record(
        "auth.password.reset_requested",
        target_type="user" if account else None,
        target_id=account.id if account else None,
        details={"email": body.email},
    )
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/reset-password",
    openapi_extra=PUBLIC,
    dependencies=[PasswordWork],
    summary="Set a new password with a reset token",
    description="Every session of the user is revoked.",
    response_class=Response,
    responses={200: {"description": "Password changed"}, **error_responses(400, 422)},
)
async def reset_password(
    body: ResetPasswordRequest,
    manager: UserManagerDep,
    throttles: LoginThrottlesDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
    request: Request,
) -> Response:
    try:
        user = await manager.reset_password(body.token, body.password, request)
    except (
        exceptions.InvalidResetPasswordToken,
        exceptions.UserNotExists,
        exceptions.UserInactive,
    ):
        raise ResetPasswordBadToken from None
    except exceptions.InvalidPasswordException as error:
        raise ResetPasswordInvalidPassword(str(error.reason)) from None
    await throttles.clear(session, user.email)  # whoever failed to log in, the owner is back
    await audit.record_on_user("auth.password.reset", user.id)
    return Response(status_code=status.HTTP_200_OK)


@router.post(
    "/request-verify-token",
    openapi_extra=PUBLIC,
    summary="E-mail a verification link",
    description="Always 202, whether or not the account exists. An address gets at most "
    "`EMAILS_PER_ADDRESS_PER_HOUR` reset and verification e-mails an hour; past that the "
    "answer is still 202.",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={202: {"description": "Accepted (no body)"}, **error_responses(422)},
)
@stricter_limit("sensitive")
async def request_verify_token(
    body: EmailRequest,
    manager: UserManagerDep,
    mail_quotas: MailQuotasDep,
    session: UnitOfWork,
    request: Request,
) -> Response:
    if await mail_quotas.take(session, body.email):
        await manager.request_verification(body.email, request)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/verify",
    summary="Verify an e-mail address",
    responses=error_responses(400, 422),
    openapi_extra=PUBLIC,
)
async def verify(
    body: VerifyRequest,
    manager: UserManagerDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
    request: Request,
) -> UserRead:
    try:
        user = await manager.verify(body.token, request)
    except (exceptions.InvalidVerifyToken, exceptions.UserNotExists):
        raise VerifyUserBadToken from None
    except exceptions.UserAlreadyVerified:
        raise VerifyUserAlreadyVerified from None
    await audit.record_on_user("auth.email.verified", user.id)
    return UserRead.model_validate(user)
