"""The items module's public surface. Nothing is shared yet: other modules that need items
get a small Protocol or DTO here, never the model or the service."""
