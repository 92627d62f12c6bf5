"""The auth module's services as FastAPI dependencies (resolved from the root container)."""

from typing import Annotated

from fastapi import Depends

from shared.api.provided import provided

from .emails import AccountEmails
from .login_sessions import LoginSessions
from .mail_quota import MailQuotas
from .password_attempts import PasswordAttempts
from .throttle import LoginThrottles
from .two_factor import TwoFactor

AccountEmailsDep = Annotated[AccountEmails, Depends(provided("auth.account_emails"))]
LoginSessionsDep = Annotated[LoginSessions, Depends(provided("auth.login_sessions"))]
LoginThrottlesDep = Annotated[LoginThrottles, Depends(provided("auth.login_throttles"))]
MailQuotasDep = Annotated[MailQuotas, Depends(provided("auth.mail_quotas"))]
TwoFactorDep = Annotated[TwoFactor, Depends(provided("auth.two_factor"))]
PasswordAttemptsDep = Annotated[PasswordAttempts, Depends(provided("auth.password_attempts"))]
