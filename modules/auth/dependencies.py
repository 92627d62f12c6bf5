"""The auth module's services as FastAPI dependencies (resolved from the root container)."""

from typing import Annotated

from fastapi import Depends

from shared.api.provided import provided

from .login_sessions import LoginSessions
from .throttle import LoginThrottles
from .two_factor import TwoFactor

LoginSessionsDep = Annotated[LoginSessions, Depends(provided("auth.login_sessions"))]
LoginThrottlesDep = Annotated[LoginThrottles, Depends(provided("auth.login_throttles"))]
TwoFactorDep = Annotated[TwoFactor, Depends(provided("auth.two_factor"))]
