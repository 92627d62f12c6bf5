from shared.errors import BadRequest, Conflict, Forbidden, Gone, NotFound


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"
    detail = "User not found"


class LastSuperuser(Conflict):
    code = "LAST_SUPERUSER"
    detail = "The last active superuser cannot demote, deactivate or delete themself"


class InvalidCurrentPassword(BadRequest):
    code = "INVALID_CURRENT_PASSWORD"
    detail = "current_password is missing or wrong"
    commits = True  # the failed check's audit entry


class EmailAlreadyExists(Conflict):
    code = "UPDATE_USER_EMAIL_ALREADY_EXISTS"
    detail = "A user with this e-mail already exists"


class InvalidPassword(BadRequest):
    code = "UPDATE_USER_INVALID_PASSWORD"


class RoleNotFound(NotFound):
    code = "ROLE_NOT_FOUND"
    detail = "Role not found"


class RoleAlreadyExists(Conflict):
    code = "ROLE_ALREADY_EXISTS"
    detail = "A role with this name already exists"


class UnknownRole(BadRequest):
    code = "UNKNOWN_ROLE"

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"No role is named {', '.join(names)}")


class SuperuserOnly(Forbidden):
    detail = "Only a superuser may do this"


class OwnAccountThroughMe(Forbidden):
    detail = "Change or delete your own account with /users/me"


class ExportInProgress(Conflict):
    code = "EXPORT_IN_PROGRESS"
    detail = "An export of your data is being prepared: wait for it before asking again"


class ExportNotFound(NotFound):
    code = "EXPORT_NOT_FOUND"
    detail = "Export not found"


class ExportNotReady(Conflict):
    code = "EXPORT_NOT_READY"
    detail = "The export is still being prepared: you will get an e-mail when it is ready"


class ExportExpired(Gone):
    code = "EXPORT_EXPIRED"
    detail = "The export has expired: ask for a new one"
