from dependency_injector import containers, providers

from shared.api.pagination import CursorCodec
from shared.settings import Settings

from .service import AuditLog


class AuditContainer(containers.DeclarativeContainer):
    # Given by the root container (shared/module.py, KERNEL_PROVIDERS).
    settings = providers.Dependency(instance_of=Settings)

    log = providers.Singleton(AuditLog, providers.Singleton(CursorCodec.from_settings, settings))
