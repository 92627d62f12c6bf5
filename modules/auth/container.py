from datetime import timedelta

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.api.pagination import CursorCodec
from shared.api.permissions import PermissionCatalog
from shared.jobs.queue import JobQueue
from shared.settings import Settings

from .api_keys import ApiKeys, ApiKeySecrets
from .authenticator import BearerAuthenticator, RateLimitOwners
from .emails import AccountEmails
from .login_sessions import LoginSessions
from .mail_quota import MailQuotas
from .password_attempts import PasswordAttempts
from .recovery_codes import RecoveryCodeHasher
from .secret_box import SecretBox
from .throttle import LoginThrottles
from .tokens import AccessTokens
from .two_factor import TwoFactor

# The name authenticator apps show next to the account.
TOTP_ISSUER = "modulith"


def _access_tokens(settings: Settings) -> AccessTokens:
    return AccessTokens(
        settings.secret_key.get_secret_value(),
        timedelta(minutes=settings.access_token_expire_minutes),
    )


def _login_sessions(settings: Settings, access_tokens: AccessTokens) -> LoginSessions:
    return LoginSessions(
        access_tokens,
        timedelta(days=settings.refresh_token_expire_days),
        CursorCodec.from_settings(settings),
        reuse_grace=timedelta(seconds=settings.refresh_reuse_grace_seconds),
        max_lifetime=timedelta(days=settings.session_max_days),
    )


def _login_throttles(settings: Settings) -> LoginThrottles:
    return LoginThrottles(
        settings.login_failures_before_delay, timedelta(minutes=settings.login_delay_max_minutes)
    )


def _two_factor(settings: Settings) -> TwoFactor:
    secret_key = settings.secret_key.get_secret_value()
    return TwoFactor(SecretBox(secret_key), RecoveryCodeHasher(secret_key), TOTP_ISSUER)


class AuthContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    jobs = providers.Dependency(instance_of=JobQueue)
    permissions = providers.Dependency(instance_of=PermissionCatalog)
    session_factory: providers.Dependency[async_sessionmaker[AsyncSession]] = providers.Dependency()

    access_tokens = providers.Singleton(_access_tokens, settings)
    login_sessions = providers.Singleton(_login_sessions, settings, access_tokens)
    login_throttles = providers.Singleton(_login_throttles, settings)
    password_attempts = providers.Singleton(PasswordAttempts, login_throttles)
    mail_quotas = providers.Singleton(MailQuotas, settings.provided.emails_per_address_per_hour)
    two_factor = providers.Singleton(_two_factor, settings)
    api_key_secrets = providers.Singleton(
        ApiKeySecrets, providers.Callable(lambda s: s.secret_key.get_secret_value(), settings)
    )
    api_keys = providers.Singleton(ApiKeys, api_key_secrets)
    authenticator = providers.Singleton(
        BearerAuthenticator, access_tokens, permissions, session_factory
    )
    rate_limit_owners = providers.Singleton(RateLimitOwners, access_tokens, api_key_secrets)
    account_emails = providers.Singleton(AccountEmails, settings, jobs)
