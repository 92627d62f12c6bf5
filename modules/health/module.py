from shared.module import Module

from .router import router

module = Module(name="health", router=router, wire=("modules.health.router",), prefix="")
