from shared.module import Module

from .router import liveness_route, router

module = Module(
    name="health",
    router=router,
    prefix="",
    # Load balancers and Prometheus poll these from few addresses, often.
    rate_limited=False,
)

__all__ = ["liveness_route", "module"]
