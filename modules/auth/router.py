from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import exceptions

from modules.users.public import UserCreate, UserManagerDep, UserRead
from shared.auth import Caller
from shared.db import UnitOfWork
from shared.error_handlers import error_response, error_responses
from shared.provided import provided
from shared.rate_limit import stricter_limit
from shared.settings import Settings

from .errors import (
    LoginBadCredentials,
    LoginUserNotVerified,
    RefreshTokenInvalid,
    RefreshTokenReused,
    RegisterInvalidPassword,
    RegisterUserAlreadyExists,
    ResetPasswordBadToken,
    ResetPasswordInvalidPassword,
    VerifyUserAlreadyVerified,
    VerifyUserBadToken,
)
from .login_sessions import LoginSessions, RefreshRejected
from .schemas import EmailRequest, RefreshRequest, ResetPasswordRequest, TokenPair, VerifyRequest

router = APIRouter(prefix="/auth", tags=["auth"])


LoginSessionsDep = Annotated[LoginSessions, Depends(provided("auth.login_sessions"))]


@router.post(
    "/register",
    summary="Create an account",
    status_code=status.HTTP_201_CREATED,
    description="Password: 8 to 128 characters, not containing the e-mail. `is_superuser`, "
    "`is_active` and `is_verified` are ignored.",
    responses=error_responses(400, 409, 422),
)
@stricter_limit("sensitive")
async def register(
    body: UserCreate, manager: UserManagerDep, session: UnitOfWork, request: Request
) -> UserRead:
    try:
        user = await manager.create(body, safe=True, request=request)
    except exceptions.UserAlreadyExists:
        raise RegisterUserAlreadyExists from None
    except exceptions.InvalidPasswordException as error:
        raise RegisterInvalidPassword(str(error.reason)) from None
    return UserRead.model_validate(user)


@router.post(
    "/jwt/login",
    summary="Log in: open a session",
    description="OAuth2 password flow (form fields `username` = e-mail, `password`), so "
    "Swagger's Authorize button works.",
    responses=error_responses(400, 422),
)
@stricter_limit("login")
async def login(
    credentials: Annotated[OAuth2PasswordRequestForm, Depends()],
    manager: UserManagerDep,
    login_sessions: LoginSessionsDep,
    session: UnitOfWork,
    request: Request,
    settings: Annotated[Settings, Depends(provided("settings"))],
) -> TokenPair:
    user = await manager.authenticate(credentials)
    if user is None or not user.is_active:
        raise LoginBadCredentials
    if settings.require_verified_login and not user.is_verified:
        raise LoginUserNotVerified
    tokens = await login_sessions.open(session, user.id)
    await manager.on_after_login(user, request)
    return tokens


@router.post(
    "/jwt/refresh",
    response_model=TokenPair,
    summary="Trade a refresh token for a new pair",
    description="The refresh token is used up. Presenting one that was already used revokes "
    "its whole session (`REFRESH_TOKEN_REUSED`).",
    responses=error_responses(401, 422),
)
async def refresh(
    body: RefreshRequest, login_sessions: LoginSessionsDep, session: UnitOfWork
) -> TokenPair | JSONResponse:
    result = await login_sessions.refresh(session, body.refresh_token)
    if isinstance(result, TokenPair):
        return result
    # Answered, not raised: the revocation that reuse causes must be committed with the 401.
    error = RefreshTokenReused if result is RefreshRejected.REUSED else RefreshTokenInvalid
    return error_response(error.status_code, error.code, error.detail)


@router.post(
    "/jwt/logout",
    summary="Log out: end this session",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401),
)
async def logout(caller: Caller, login_sessions: LoginSessionsDep, session: UnitOfWork) -> Response:
    await login_sessions.revoke(session, caller.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/jwt/logout-all",
    summary="Log out everywhere: end every session",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401),
)
async def logout_all(
    caller: Caller, login_sessions: LoginSessionsDep, session: UnitOfWork
) -> Response:
    await login_sessions.revoke_all(session, caller.user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/forgot-password",
    summary="E-mail a password-reset link",
    description="Always 202, whether or not the account exists.",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={202: {"description": "Accepted (no body)"}, **error_responses(422)},
)
@stricter_limit("sensitive")
async def forgot_password(
    body: EmailRequest, manager: UserManagerDep, session: UnitOfWork, request: Request
) -> Response:
    await manager.request_password_reset(body.email, request)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/reset-password",
    summary="Set a new password with a reset token",
    description="Every session of the user is revoked.",
    response_class=Response,
    responses={200: {"description": "Password changed"}, **error_responses(400, 422)},
)
async def reset_password(
    body: ResetPasswordRequest, manager: UserManagerDep, session: UnitOfWork, request: Request
) -> Response:
    try:
        await manager.reset_password(body.token, body.password, request)
    except (
        exceptions.InvalidResetPasswordToken,
        exceptions.UserNotExists,
        exceptions.UserInactive,
    ):
        raise ResetPasswordBadToken from None
    except exceptions.InvalidPasswordException as error:
        raise ResetPasswordInvalidPassword(str(error.reason)) from None
    return Response(status_code=status.HTTP_200_OK)


@router.post(
    "/request-verify-token",
    summary="E-mail a verification link",
    description="Always 202, whether or not the account exists.",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={202: {"description": "Accepted (no body)"}, **error_responses(422)},
)
@stricter_limit("sensitive")
async def request_verify_token(
    body: EmailRequest, manager: UserManagerDep, session: UnitOfWork, request: Request
) -> Response:
    await manager.request_verification(body.email, request)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post("/verify", summary="Verify an e-mail address", responses=error_responses(400, 422))
async def verify(
    body: VerifyRequest, manager: UserManagerDep, session: UnitOfWork, request: Request
) -> UserRead:
    try:
        user = await manager.verify(body.token, request)
    except (exceptions.InvalidVerifyToken, exceptions.UserNotExists):
        raise VerifyUserBadToken from None
    except exceptions.UserAlreadyVerified:
        raise VerifyUserAlreadyVerified from None
    return UserRead.model_validate(user)
