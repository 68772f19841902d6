"""``gongji serve``: the decision service (HTTP/JSON, OpenAPI, pre-fork workers, hot reload).

    from engine.service import ServiceState, create_app
    state = ServiceState("rulesets")
    app = create_app(state)          # a Starlette ASGI app; more routes with extra_routes=

The web stack is imported only when used, so other ``gongji`` commands start as fast as before.
"""

from __future__ import annotations

from typing import Any

from .command import register_cli

__all__ = ["Limits", "ServiceState", "create_app", "register_cli"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("Limits", "ServiceState"):
        from . import state

        return getattr(state, name)
    raise AttributeError(name)
