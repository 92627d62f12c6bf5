"""The fastapi-users user manager, with every password hash and verify off the event loop.

fastapi-users hashes inline (on the event loop) in create, authenticate, forgot and reset
password, and update. `BaseUserManager` is made to be subclassed, and its public methods
are overridden below: the same steps, with the hashing awaited in worker threads
(`PasswordHasher`), including the dummy hash for unknown e-mails that keeps login timing from
revealing which accounts exist. Account changes go through `change_account` (ours), never
through fastapi-users' private `_update`.
"""

import contextlib
import uuid
from typing import Any

import jwt
from fastapi import Request
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import BaseUserManager, UUIDIDMixin, exceptions, schemas
from fastapi_users.jwt import decode_jwt, generate_jwt

from shared.jobs.queue import JobQueue
from shared.settings import Settings

from .common_passwords import is_common
from .database import EmailTaken, UserDatabase
from .errors import EmailAlreadyExists, InvalidCurrentPassword, InvalidPassword
from .events import UserDeleted
from .models import User
from .passwords import PasswordHasher
from .ports import AccountMailer, PasswordAttempts, SessionRevoker, TwoFactorSwitch
from .schemas import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, UserAdminUpdate

# What a user may not set on their own account (fastapi-users' `create_update_dict`).
_PRIVILEGES = {"id", "is_superuser", "is_active", "is_verified", "oauth_accounts"}


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    user_db: UserDatabase

    def __init__(
        self,
        user_db: UserDatabase,
        *,
        settings: Settings,
        hasher: PasswordHasher,
        session_revoker: SessionRevoker,
        mailer: AccountMailer,
        two_factor_switch: TwoFactorSwitch,
        password_attempts: PasswordAttempts,
        jobs: JobQueue,
    ) -> None:
        super().__init__(user_db, password_helper=hasher.helper)
        self.hasher = hasher
        self.session_revoker = session_revoker
        self.mailer = mailer
        self.two_factor_switch = two_factor_switch
        self.password_attempts = password_attempts
        self.jobs = jobs
        secret = settings.secret_key.get_secret_value()
        self.reset_password_token_secret = secret
        self.verification_token_secret = secret

    # --- policy and hooks -------------------------------------------------------------

    async def validate_password(self, password: str, user: schemas.UC | User) -> None:
        if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
            raise exceptions.InvalidPasswordException(
                f"Password must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters"
            )
        if user.email and user.email.lower() in password.lower():
            raise exceptions.InvalidPasswordException("Password must not contain the e-mail")
        if is_common(password):
            raise exceptions.InvalidPasswordException(
                "Password is too common: it is among the most used passwords in known breaches"
            )

    async def on_after_forgot_password(
        self, user: User, token: str, request: Request | None = None
    ) -> None:
        await self.mailer.send_password_reset(self.user_db.session, user, token)

    async def on_after_request_verify(
        self, user: User, token: str, request: Request | None = None
    ) -> None:
        await self.mailer.send_verification(self.user_db.session, user, token)

    async def on_after_delete(self, user: User, request: Request | None = None) -> None:
        await self.jobs.publish(
            self.user_db.session, UserDeleted(user_id=user.id, email=user.email)
        )

    async def on_after_reset_password(self, user: User, request: Request | None = None) -> None:
        await self.session_revoker.revoke_all(self.user_db.session, user.id)
        await self.mailer.send_password_changed(self.user_db.session, user)

    # --- the /users use cases that change an account ----------------------------------

    async def update_own_account(
        self,
        user: User,
        changes: dict[str, Any],
        *,
        current_password: str | None,
        session_id: uuid.UUID,
    ) -> User:
        """PATCH /users/me: a new e-mail or password needs the current password; a new
        password ends every other session of the user (this one, `session_id`, stays)."""
        new_email = changes.get("email")
        sensitive = (new_email and new_email.lower() != user.email.lower()) or changes.get(
            "password"
        )
        if sensitive:
            await self.check_current_password(user, current_password)
        old_email = user.email
        updated = await self._change_or_refuse(user, UserAdminUpdate(**changes), safe=True)
        if changes.get("password"):
            await self.session_revoker.revoke_all(self.user_db.session, user.id, keep=session_id)
        await self._alert_owner(updated, old_email, password_changed=bool(changes.get("password")))
        return updated

    async def set_mfa_enabled(self, user: User, enabled: bool) -> None:
        """The account's two-factor flag, as the auth module turns its second factor on or
        off (the secret and the codes are auth's)."""
        await self.user_db.update(user, {"mfa_enabled": enabled})

    async def check_current_password(
        self, user: User, password: str | None, *, completes_proof: bool = True
    ) -> None:
        """`InvalidCurrentPassword` unless `password` is the user's. Counted in the account's
        login throttle before it is made (`429 LOGIN_THROTTLED` while the account is delayed);
        the count clears when the proof is complete, so a route that checks a second factor
        next passes `completes_proof=False` and clears it itself."""
        if password is None:
            raise InvalidCurrentPassword
        await self.password_attempts.begin(self.user_db.session, user)
        if not await self.check_password(user, password):
            raise InvalidCurrentPassword
        if completes_proof:
            await self.password_attempts.succeeded(self.user_db.session, user)

    async def update_by_superuser(self, user: User, changes: UserAdminUpdate) -> User:
        """PATCH /users/{id}: deactivating the user or setting their password ends all their
        sessions, and `mfa_enabled: false` forgets their second factor, in the same
        transaction."""
        old_email, had_two_factor = user.email, user.mfa_enabled
        updated = await self._change_or_refuse(user, changes, safe=False)
        if changes.is_active is False or changes.password:
            await self.session_revoker.revoke_all(self.user_db.session, user.id)
        if changes.mfa_enabled is False:
            await self.two_factor_switch.turn_off(self.user_db.session, user.id)
            if had_two_factor:
                await self.mailer.send_two_factor_changed(
                    self.user_db.session, updated, enabled=False
                )
        await self._alert_owner(updated, old_email, password_changed=bool(changes.password))
        return updated

    async def _alert_owner(self, user: User, old_email: str, *, password_changed: bool) -> None:
        """Mail the account's owner about a new password, and its old address about a new
        e-mail: if someone else made the change, the owner learns of it."""
        session = self.user_db.session
        if password_changed:
            await self.mailer.send_password_changed(session, user)
        if user.email != old_email:
            await self.mailer.send_email_changed(session, user, old_email)

    async def _change_or_refuse(self, user: User, changes: UserAdminUpdate, *, safe: bool) -> User:
        try:
            return await self.update(changes, user, safe=safe)
        except exceptions.UserAlreadyExists:
            raise EmailAlreadyExists from None
        except exceptions.InvalidPasswordException as error:
            raise InvalidPassword(str(error.reason)) from None

    # --- fastapi-users' methods, hashing in a thread ------------------------------------

    async def create(
        self, user_create: schemas.UC, safe: bool = False, request: Request | None = None
    ) -> User:
        await self.validate_password(user_create.password, user_create)
        if await self.user_db.get_by_email(user_create.email) is not None:
            raise exceptions.UserAlreadyExists()
        # `safe` drops the privilege flags (is_superuser, is_active, is_verified).
        user_dict: dict[str, Any] = user_create.model_dump(
            exclude_unset=True, exclude=_PRIVILEGES if safe else {"id"}
        )
        user_dict["hashed_password"] = await self.hasher.hash(user_dict.pop("password"))
        try:
            created_user = await self.user_db.create(user_dict)
        except EmailTaken:  # registered concurrently, after the check above
            raise exceptions.UserAlreadyExists() from None
        await self.on_after_register(created_user, request)
        return created_user

    async def update(
        self,
        user_update: schemas.UU,
        user: User,
        safe: bool = False,
        request: Request | None = None,
    ) -> User:
        # `safe` drops the privilege flags, as in create.
        values: dict[str, Any] = user_update.model_dump(
            exclude_unset=True, exclude=_PRIVILEGES if safe else {"id"}
        )
        updated = await self.change_account(user, values)
        await self.on_after_update(updated, values, request)
        return updated

    async def authenticate(self, credentials: OAuth2PasswordRequestForm) -> User | None:
        user = await self.find_by_email(credentials.username)
        return user if await self.check_password(user, credentials.password) else None

    async def find_by_email(self, email: str) -> User | None:
        try:
            return await self.get_by_email(email)
        except exceptions.UserNotExists:
            return None

    async def check_password(self, user: User | None, password: str) -> bool:
        """Whether `password` is `user`'s, at the same cost when there is no such user (the
        time taken must not tell); a hash made with outdated parameters is replaced."""
        if user is None:
            await self.hasher.hash(password)
            return False
        verified, updated_hash = await self.hasher.verify_and_update(password, user.hashed_password)
        if verified and updated_hash is not None:
            await self.user_db.update(user, {"hashed_password": updated_hash})
        return verified

    async def forgot_password(self, user: User, request: Request | None = None) -> None:
        if not user.is_active:
            raise exceptions.UserInactive()
        token_data = {
            "sub": str(user.id),
            # Ties the token to the current password: it dies when the password changes.
            "password_fgpt": await self.hasher.hash(user.hashed_password),
            "aud": self.reset_password_token_audience,
        }
        token = generate_jwt(
            token_data,
            self.reset_password_token_secret,
            self.reset_password_token_lifetime_seconds,
        )
        await self.on_after_forgot_password(user, token, request)

    async def request_password_reset(
        self, account: User | None, email: str, request: Request | None = None
    ) -> None:
        """forgot_password for the account of `email` (`find_by_email`), at the same cost
        whether or not an active account has it: the time taken must not tell (the answer is
        always 202 too)."""
        if account is None or not account.is_active:
            await self.hasher.hash(email)  # what the reset token's fingerprint costs
            return
        await self.forgot_password(account, request)

    async def request_verification(self, email: str, request: Request | None = None) -> None:
        """request_verify by e-mail address; silent when there is nothing to verify (no such
        account, inactive, already verified): the answer must not tell which."""
        with contextlib.suppress(
            exceptions.UserNotExists, exceptions.UserInactive, exceptions.UserAlreadyVerified
        ):
            await self.request_verify(await self.get_by_email(email), request)

    async def reset_password(
        self, token: str, password: str, request: Request | None = None
    ) -> User:
        try:
            data = decode_jwt(
                token, self.reset_password_token_secret, [self.reset_password_token_audience]
            )
            user_id, fingerprint = data["sub"], data["password_fgpt"]
            parsed_id = self.parse_id(user_id)
        except (jwt.PyJWTError, KeyError, exceptions.InvalidID):
            raise exceptions.InvalidResetPasswordToken() from None
        user = await self.get(parsed_id)
        valid, _ = await self.hasher.verify_and_update(user.hashed_password, fingerprint)
        if not valid:
            raise exceptions.InvalidResetPasswordToken()
        if not user.is_active:
            raise exceptions.UserInactive()
        updated_user = await self.change_account(user, {"password": password})
        await self.on_after_reset_password(user, request)
        return updated_user

    async def change_account(self, user: User, update_dict: dict[str, Any]) -> User:
        """Writes `update_dict` to the account as fastapi-users' update does: a new e-mail
        must be free and is unverified, a new password is validated and hashed (in a thread)."""
        validated: dict[str, Any] = {}
        for field, value in update_dict.items():
            if field == "email" and value.lower() == user.email.lower():
                validated["email"] = value  # the same address, spelled differently
            elif field == "email":
                try:
                    await self.get_by_email(value)
                    raise exceptions.UserAlreadyExists()
                except exceptions.UserNotExists:
                    validated["email"] = value
                    validated["is_verified"] = False
            elif field == "password" and value is not None:
                await self.validate_password(value, user)
                validated["hashed_password"] = await self.hasher.hash(value)
            elif field != "password":
                validated[field] = value
        try:
            return await self.user_db.update(user, validated)
        except EmailTaken:
            raise exceptions.UserAlreadyExists() from None
