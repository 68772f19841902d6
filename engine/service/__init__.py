"""``gongji serve``: the decision service (HTTP/JSON, OpenAPI, pre-fork workers, hot reload).

    from engine.service import ServiceState, create_app
    state = ServiceState("rulesets")
    app = create_app(state)          # a Starlette ASGI app; mount extra routes with extra_routes=
"""

from .app import create_app
from .state import Limits, ServiceState

__all__ = ["Limits", "ServiceState", "create_app"]
