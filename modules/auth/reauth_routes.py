"""/auth/reauth: the caller proves their password again, for the routes that need a recent
proof ("sudo mode", `RecentlyAuthenticated`): a stolen access token alone is not enough to
turn two-factor login on or off, to create an API key or to delete the account."""

from fastapi import APIRouter, Response, status

from modules.audit.public import AuditTrailDep
from modules.users.public import InvalidCurrentPassword, PasswordWork, UserManagerDep, account_of
from shared.api.auth import SessionCaller
from shared.api.error_handlers import ErrorEnvelope, error_responses
from shared.api.route import ModuleRoute
from shared.data.db import UnitOfWork

from .dependencies import LoginSessionsDep, PasswordAttemptsDep, TwoFactorDep
from .errors import MfaInvalidCode
from .schemas import ReauthRequest

router = APIRouter(
    prefix="/auth", tags=["auth"], route_class=ModuleRoute
)  # joined into one by router.py


@router.post(
    "/reauth",
    dependencies=[PasswordWork],
    summary="Prove the password again (sudo mode)",
    description="Routes that need a recent proof (`/auth/2fa/setup`, `/enable`, `/disable`, "
    "`POST /auth/api-keys`, `DELETE /users/me`) accept this session for "
    "`REAUTH_WINDOW_MINUTES` afterwards. `code` "
    "(a TOTP code or an unused recovery code) is required when two-factor login is on. A wrong "
    "password or code counts as a failed login of the account.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        204: {"description": "Proved"},
        **error_responses(400, 401, 403, 422),
        429: {"model": ErrorEnvelope, "description": "Rate limited, or `LOGIN_THROTTLED`"},
    },
)
async def reauthenticate(
    body: ReauthRequest,
    caller: SessionCaller,
    manager: UserManagerDep,
    two_factor: TwoFactorDep,
    attempts: PasswordAttemptsDep,
    login_sessions: LoginSessionsDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    user = account_of(caller)
    try:
        await manager.check_current_password(
            user, body.password, completes_proof=not user.mfa_enabled
        )
    except InvalidCurrentPassword:
        await audit.record_on_user("auth.reauth.failed", user.id, details={"route": "reauth"})
        raise
    if user.mfa_enabled:
        if body.code is None or await two_factor.check(session, user.id, body.code) is None:
            await audit.record_on_user(
                "auth.reauth.failed", user.id, details={"route": "reauth", "factor": "2fa"}
            )
            raise MfaInvalidCode
        await attempts.succeeded(session, user)
    await login_sessions.mark_authenticated(session, caller.login_session_id)
    await audit.record_on_user("auth.reauth.succeeded", user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
