from dependency_injector import containers, providers

from shared.api.pagination import CursorCodec
from shared.settings import Settings

from .idempotency import IdempotencyKeys
from .service import ItemsService


class ItemsContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    idempotency_keys = providers.Singleton(IdempotencyKeys)
    service = providers.Singleton(
        ItemsService, providers.Singleton(CursorCodec.from_settings, settings), idempotency_keys
    )
