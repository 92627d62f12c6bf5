"""The router every module's routes hang on.

FastAPI (0.165) keeps each included router as a branch and, for every request, tries the
routes of the branches in turn, one by one, until one matches: a request for the last
module paid for a regex match (and FastAPI's bookkeeping around it) against every route of
the modules mounted before it.
"""

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope


class ModuleRouter(APIRouter):
    """An `APIRouter` that turns a request away in one substring test when its path cannot
    be one of this router's: every route here starts with `prefix`, so a path without it
    matches none of them. A path that contains it elsewhere is matched route by route, as
    before. Without a prefix, it is a plain `APIRouter`."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.prefix and self.prefix not in scope["path"]:
            return Match.NONE, {}
        return super().matches(scope)
