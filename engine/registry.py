"""Registration of actions and triggers.

Each action lives in its own module with a pydantic ``Config`` and an ``async run(ctx, config)``
decorated with :func:`action`. The Config's JSON schema is the contract the builder renders forms
from. Registering the same name twice raises at import time, so a typo'd copy-paste can never
silently replace a real action.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from engine.context import ActionContext


class RegistryError(RuntimeError):
    """Raised when two actions or triggers claim the same name."""


ActionFunc = Callable[["ActionContext", Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ActionSpec:
    """Everything the engine and the UI need to know about one action."""

    name: str
    title: str
    description: str
    category: str
    config_model: type[BaseModel]
    run: ActionFunc
    side_effect: bool
    connection_types: tuple[str, ...] = ()

    def config_schema(self) -> dict[str, Any]:
        """JSON schema of the Config: the builder turns it into a form."""
        return self.config_model.model_json_schema()


@dataclass(frozen=True)
class TriggerSpec:
    """A trigger type: its Config model validates the trigger's ``config`` object."""

    name: str
    title: str
    description: str
    config_model: type[BaseModel]


ACTIONS: dict[str, ActionSpec] = {}
TRIGGERS: dict[str, TriggerSpec] = {}


def action(
    name: str,
    *,
    config: type[BaseModel],
    title: str,
    description: str,
    category: str = "core",
    side_effect: bool = True,
    connection_types: tuple[str, ...] = (),
) -> Callable[[ActionFunc], ActionFunc]:
    """Register ``async def run(ctx, config) -> dict`` as the action ``name``.

    ``side_effect=False`` marks pure steps (log, transform, filter): the executor may skip the
    separate "running" write for them, which keeps cheap workflows fast.
    """

    def decorator(func: ActionFunc) -> ActionFunc:
        if name in ACTIONS:
            raise RegistryError(f"action {name!r} is registered twice")
        ACTIONS[name] = ActionSpec(
            name=name,
            title=title,
            description=description,
            category=category,
            config_model=config,
            run=func,
            side_effect=side_effect,
            connection_types=connection_types,
        )
        return func

    return decorator


def trigger(name: str, *, config: type[BaseModel], title: str, description: str) -> Callable:
    """Register a trigger type's Config model (used for validation and the builder form)."""

    def decorator(obj: Any) -> Any:
        if name in TRIGGERS:
            raise RegistryError(f"trigger {name!r} is registered twice")
        TRIGGERS[name] = TriggerSpec(name=name, title=title, description=description, config_model=config)
        return obj

    return decorator


_loaded = False


def load_builtins() -> None:
    """Import every module under engine.actions and engine.triggers exactly once."""
    global _loaded
    if _loaded:
        return
    import engine.actions as actions_pkg
    import engine.triggers as triggers_pkg

    for pkg in (actions_pkg, triggers_pkg):
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{pkg.__name__}.{mod.name}")
    _loaded = True


def get_action(name: str) -> ActionSpec:
    """Look up an action, loading the built-ins on first use."""
    load_builtins()
    return ACTIONS[name]


def all_actions() -> dict[str, ActionSpec]:
    load_builtins()
    return dict(ACTIONS)


def all_triggers() -> dict[str, TriggerSpec]:
    load_builtins()
    return dict(TRIGGERS)
