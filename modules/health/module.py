from shared.module import Module

from .router import router

module = Module(
    name="health",
    router=router,
    prefix="",
    # Load balancers and Prometheus poll these from few addresses, often.
    rate_limited=False,
)

__all__ = ["module"]
