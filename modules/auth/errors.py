"""Auth errors. Codes are fastapi-users' own (`ErrorCode`) where it has one."""

from fastapi_users.router.common import ErrorCode

from shared.errors import AppError, BadRequest, Conflict, NotFound, Unauthorized


class RegisterUserAlreadyExists(Conflict):
    code = ErrorCode.REGISTER_USER_ALREADY_EXISTS.value
    detail = "A user with this e-mail already exists"


class RegisterInvalidPassword(BadRequest):
    code = ErrorCode.REGISTER_INVALID_PASSWORD.value


class LoginBadCredentials(BadRequest):
    code = ErrorCode.LOGIN_BAD_CREDENTIALS.value
    detail = "Wrong e-mail or password, or the account is inactive"
    commits = True  # the failure's count and audit entry


class LoginUserNotVerified(BadRequest):
    code = ErrorCode.LOGIN_USER_NOT_VERIFIED.value
    detail = "The e-mail address is not verified yet"
    commits = True  # the attempt's count, withdrawn: the password was right


class RefreshTokenInvalid(Unauthorized):
    code = "REFRESH_TOKEN_INVALID"
    detail = "The refresh token is invalid, expired or revoked"
    commits = True  # a token presented for a dead session stays used


class RefreshTokenReused(Unauthorized):
    code = "REFRESH_TOKEN_REUSED"
    detail = "The refresh token was already used: every token of its session is revoked"
    commits = True  # the revocation and its audit entry


class ResetPasswordBadToken(BadRequest):
    code = ErrorCode.RESET_PASSWORD_BAD_TOKEN.value
    detail = "The reset token is invalid or expired"


class ResetPasswordInvalidPassword(BadRequest):
    code = ErrorCode.RESET_PASSWORD_INVALID_PASSWORD.value


class VerifyUserBadToken(BadRequest):
    code = ErrorCode.VERIFY_USER_BAD_TOKEN.value
    detail = "The verification token is invalid or expired"


class VerifyUserAlreadyVerified(BadRequest):
    code = ErrorCode.VERIFY_USER_ALREADY_VERIFIED.value
    detail = "The e-mail address is already verified"


class LoginThrottled(AppError):
    status_code = 429
    code = "LOGIN_THROTTLED"
    detail = "Too many failed logins for this account: retry after Retry-After seconds"
    commits = True  # its audit entry


class MfaRequired(Unauthorized):
    code = "MFA_REQUIRED"
    detail = "Two-factor login: send `mfa_token` and a code to /auth/jwt/login/2fa"
    commits = True  # the challenge that `mfa_token` names


class MfaInvalidCode(BadRequest):
    code = "MFA_INVALID_CODE"
    detail = "The code is wrong, expired or already used"
    commits = True  # the failure's count and audit entry


class MfaTokenInvalid(BadRequest):
    code = "MFA_TOKEN_INVALID"
    detail = "The mfa_token is invalid, expired, used, or ended by too many wrong codes"


class MfaAlreadyEnabled(Conflict):
    code = "MFA_ALREADY_ENABLED"
    detail = "Two-factor login is already on"


class MfaNotSetUp(Conflict):
    code = "MFA_NOT_SET_UP"
    detail = "Call /auth/2fa/setup first"


class MfaNotEnabled(Conflict):
    code = "MFA_NOT_ENABLED"
    detail = "Two-factor login is off"


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"
    detail = "Session not found"
