from datetime import timedelta

from dependency_injector import containers, providers

from shared.jobs.queue import JobQueue
from shared.settings import Settings

from .authenticator import SessionTokenAuthenticator
from .emails import AccountEmails
from .login_sessions import LoginSessions
from .tokens import AccessTokens


def _access_tokens(settings: Settings) -> AccessTokens:
    return AccessTokens(
        settings.secret_key.get_secret_value(),
        timedelta(minutes=settings.access_token_expire_minutes),
    )


def _login_sessions(settings: Settings, access_tokens: AccessTokens) -> LoginSessions:
    return LoginSessions(access_tokens, timedelta(days=settings.refresh_token_expire_days))


class AuthContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    jobs = providers.Dependency(instance_of=JobQueue)

    access_tokens = providers.Singleton(_access_tokens, settings)
    login_sessions = providers.Singleton(_login_sessions, settings, access_tokens)
    authenticator = providers.Singleton(SessionTokenAuthenticator, access_tokens)
    account_emails = providers.Singleton(AccountEmails, settings, jobs)
