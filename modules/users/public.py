"""The users module's public surface: the only names other modules may import."""

from .dependencies import UserManagerDep, get_user_manager
from .events import UserDeleted
from .first_superuser import ensure_superuser
from .manager import UserManager
from .models import User
from .ports import AccountMailer, SessionRevoker
from .schemas import UserCreate, UserRead

__all__ = [
    "AccountMailer",
    "SessionRevoker",
    "User",
    "UserCreate",
    "UserDeleted",
    "UserManager",
    "UserManagerDep",
    "UserRead",
    "ensure_superuser",
    "get_user_manager",
]
