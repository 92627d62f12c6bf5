"""Auth errors. Codes are fastapi-users' own (`ErrorCode`) where it has one."""

from fastapi_users.router.common import ErrorCode

from shared.errors import BadRequest, Conflict, Unauthorized


class RegisterUserAlreadyExists(Conflict):
    code = ErrorCode.REGISTER_USER_ALREADY_EXISTS.value
    detail = "A user with this e-mail already exists"


class RegisterInvalidPassword(BadRequest):
    code = ErrorCode.REGISTER_INVALID_PASSWORD.value


class LoginBadCredentials(BadRequest):
    code = ErrorCode.LOGIN_BAD_CREDENTIALS.value
    detail = "Wrong e-mail or password, or the account is inactive"


class LoginUserNotVerified(BadRequest):
    code = ErrorCode.LOGIN_USER_NOT_VERIFIED.value
    detail = "The e-mail address is not verified yet"


class RefreshTokenInvalid(Unauthorized):
    code = "REFRESH_TOKEN_INVALID"
    detail = "The refresh token is invalid, expired or revoked"


class RefreshTokenReused(Unauthorized):
    code = "REFRESH_TOKEN_REUSED"
    detail = "The refresh token was already used: every token of its session is revoked"


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
