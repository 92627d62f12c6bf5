"""The auth module's public surface. Who is calling is the kernel's (`shared.api.auth`:
`CurrentCaller`, `permitted(...)`, …), filled in by this module's authenticator: other modules
need nothing from here yet."""

__all__: list[str] = []
