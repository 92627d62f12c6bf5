from shared.errors import Conflict, NotFound, PreconditionFailed


class ItemNotFound(NotFound):
    # Also for someone else's item: its existence is not revealed.
    code = "ITEM_NOT_FOUND"
    detail = "Item not found"


class VersionMismatch(PreconditionFailed):
    detail = "The item has changed since that version (If-Match)"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    detail = "This Idempotency-Key was used with a different request body"
