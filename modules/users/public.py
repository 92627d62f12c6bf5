"""The users module's public surface: the only names other modules may import.

Its ports (`ports.py`: what it needs from auth) are not here: auth implements them by shape,
and the root container binds them.
"""

from .dependencies import PasswordWork, UserManagerDep, account_of
from .errors import InvalidCurrentPassword
from .events import UserDeleted
from .first_superuser import ensure_superuser
from .manager import UserManager
from .models import User
from .roles import role_permissions_of
from .schemas import NEW_PASSWORD_DESCRIPTION, NEW_PASSWORD_RULES, UserCreate, UserRead

__all__ = [
    "NEW_PASSWORD_DESCRIPTION",
    "NEW_PASSWORD_RULES",
    "InvalidCurrentPassword",
    "PasswordWork",
    "User",
    "UserCreate",
    "UserDeleted",
    "UserManager",
    "UserManagerDep",
    "UserRead",
    "account_of",
    "ensure_superuser",
    "role_permissions_of",
]
