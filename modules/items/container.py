from dependency_injector import containers, providers

from shared.pagination import CursorCodec
from shared.settings import Settings

from .idempotency import IdempotencyKeys
from .service import ItemsService


def _cursor_codec(settings: Settings) -> CursorCodec:
    return CursorCodec(settings.secret_key.get_secret_value())


class ItemsContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    service = providers.Singleton(ItemsService, providers.Singleton(_cursor_codec, settings))
    idempotency_keys = providers.Singleton(IdempotencyKeys)
