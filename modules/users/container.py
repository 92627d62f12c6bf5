from dependency_injector import containers, providers

from shared.api.pagination import CursorCodec
from shared.api.permissions import PermissionCatalog
from shared.jobs.queue import JobQueue
from shared.personal_data import Exporter
from shared.settings import Settings

from .exports import DataExports
from .manager import UserManager
from .passwords import PasswordHasher
from .ports import AccountMailer, PasswordAttempts, SessionRevoker, TwoFactorSwitch
from .roles import Roles
from .service import UsersService


def _database_connections(settings: Settings) -> int:
    return settings.db_pool_size + settings.db_max_overflow


class UsersContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    # Ports, bound by the root container (implemented by the auth module).
    session_revoker: providers.Dependency[SessionRevoker] = providers.Dependency()
    account_mailer: providers.Dependency[AccountMailer] = providers.Dependency()
    two_factor_switch: providers.Dependency[TwoFactorSwitch] = providers.Dependency()
    password_attempts: providers.Dependency[PasswordAttempts] = providers.Dependency()
    jobs = providers.Dependency(instance_of=JobQueue)
    permissions = providers.Dependency(instance_of=PermissionCatalog)
    # Every module's exporter (shared/personal_data.py), bound by the root container.
    exporters: providers.Dependency[list[tuple[str, Exporter]]] = providers.Dependency()

    password_hasher = providers.Singleton(
        PasswordHasher, database_connections=providers.Callable(_database_connections, settings)
    )
    # A manager per request: called with that request's UserDatabase.
    user_manager = providers.Factory(
        UserManager,
        settings=settings,
        hasher=password_hasher,
        session_revoker=session_revoker,
        mailer=account_mailer,
        two_factor_switch=two_factor_switch,
        password_attempts=password_attempts,
        jobs=jobs,
    )
    service = providers.Singleton(
        UsersService, providers.Singleton(CursorCodec.from_settings, settings)
    )
    roles = providers.Singleton(Roles, permissions)
    # `.provider`: the queue itself is called when a job is written (it is built from the
    # task registry, which holds this service's job).
    data_exports = providers.Singleton(DataExports, settings, jobs.provider, exporters)
