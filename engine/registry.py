"""The plugin registry: actions, trigger types and connection types, built-in or from packages.

- An **action** lives in its own module with a pydantic ``Config`` and an ``async run(ctx, config)``
  decorated with :func:`action`. The Config's JSON schema is the contract the builder renders
  forms from.
- A **trigger type** is a :class:`TriggerType` subclass registered with :func:`trigger_type`: its
  hooks say how a trigger is configured, which config fields are secret, how an incoming request
  is authenticated, when it fires next, what the API shows of it and what a sample payload
  looks like. Services and the webhook intake call the hooks instead of branching on the type.
- A **connection type** is a :class:`ConnectionType` subclass registered with
  :func:`connection_type`: its plain and secret fields, the required ones, and where the
  provider keeps the data.

Built-ins are the modules under ``engine.actions``, ``engine.triggers`` and
``engine.connection_types``. Other packages add theirs through the Python entry-point groups
``flowmate.actions``, ``flowmate.triggers`` and ``flowmate.connections`` (each entry point names a
module to import; importing it registers what it defines). A name registered twice raises
:class:`RegistryError` naming both packages, so start-up fails instead of one plugin silently
replacing another (or a built-in).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:  # type hints only: the context module never needs the registry
    from engine.context import ActionContext

BUILTIN_PACKAGE = "flowmate"
ENTRY_POINT_GROUPS = {"actions": "flowmate.actions", "triggers": "flowmate.triggers",
                      "connections": "flowmate.connections"}


class RegistryError(RuntimeError):
    """Two packages (or one package twice) claim the same action, trigger or connection name."""


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
    package: str = BUILTIN_PACKAGE

    def config_schema(self) -> dict[str, Any]:
        """JSON schema of the Config: the builder turns it into a form."""
        return self.config_model.model_json_schema()


class AuthFailed(Exception):
    """A trigger refused an incoming request (the intake answers 401 with this message)."""

    def __init__(self, message: str, *, basic: bool = False):
        super().__init__(message)
        self.message = message
        self.basic = basic  # ask for HTTP Basic credentials (WWW-Authenticate)


@dataclass
class IncomingRequest:
    """What a trigger's ``authenticate`` hook may look at: method, headers (any case), raw body."""

    method: str
    headers: Mapping[str, str]
    body: bytes


class TriggerType:
    """Base class of a trigger type. Subclass it, set the class attributes, override the hooks.

    The defaults describe a trigger with no secrets, no endpoint and no schedule (like manual).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    #: Lucide icon name shown next to the title in the builder's trigger picker.
    icon: ClassVar[str] = "zap"
    #: pydantic model validating the trigger's ``config`` object (and drawing its form).
    Config: ClassVar[type[BaseModel]]
    #: Does the trigger get a private URL (``/hooks/<token>``) that starts runs?
    has_endpoint: ClassVar[bool] = False
    #: The key of the run's ``trigger`` object that holds the caller's data (the builder spells
    #: out a sample payload's fields under it); None when the trigger carries no caller data.
    sample_key: ClassVar[str | None] = None
    #: Does engine/polling.py drive it? Then ``next_fire_at`` is when to ask the source next and
    #: each new item starts a run; the scheduler's time firing leaves it alone.
    polling: ClassVar[bool] = False
    package: ClassVar[str] = BUILTIN_PACKAGE

    @property
    def config_model(self) -> type[BaseModel]:
        return self.Config

    def prepare(self, config: dict[str, Any], old_secret: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split a validated config into (what is stored in clear, what is stored encrypted).

        ``old_secret`` is the decrypted secret of the stored trigger: a secret left out on
        update keeps its value. Raise ValidationFailed for a missing secret.
        """
        return config, {}

    def authenticate(self, config: dict[str, Any], secret: dict[str, Any], request: IncomingRequest) -> set[str]:
        """Check an incoming request; raise AuthFailed. Returns header names (lower case) that
        carried credentials and must not be copied into the run payload."""
        return set()

    def next_fire_at(self, config: dict[str, Any], timezone: str, after: datetime) -> datetime | None:
        """When the scheduler should fire this trigger next (a polling type: poll it next);
        None: it does not fire by time."""
        return None

    def last_fire_at(self, config: dict[str, Any], timezone: str, at_or_before: datetime) -> datetime | None:
        """The latest scheduled time at or before ``at_or_before``: after downtime the scheduler
        fires only that one. None: the stored next fire time is the one to fire."""
        return None

    @classmethod
    def fires_by_time(cls) -> bool:
        """Does this type implement the next-fire-time hook and start a run at each fire time? The
        scheduler selects its triggers (polling types are polled instead, see ``polling``)."""
        return cls.next_fire_at is not TriggerType.next_fire_at and not cls.polling

    def public_view(self, config: dict[str, Any], *, token: str | None, secret_set: bool,
                    next_fire_at: datetime | None) -> dict[str, Any]:
        """What the API, CLI and UI show of a stored trigger (never a secret value)."""
        return {"type": self.name, "config": dict(config)}

    def sample_payload(self, config: dict[str, Any]) -> dict[str, Any]:
        """A ``trigger`` object as a run would see it, for the builder's reference menu."""
        return {self.sample_key: {}} if self.sample_key else {}

    def test_payload(self, config: dict[str, Any], sample: Any) -> dict[str, Any]:
        """The ``trigger`` object of a builder test run, with the person's sample data in it."""
        return {**self.sample_payload(config), **({self.sample_key: sample} if self.sample_key else {})}


class ConnectionType:
    """Base class of a connection type: which fields are plain config and which are secret."""

    name: ClassVar[str]
    title: ClassVar[str]
    config_fields: ClassVar[tuple[str, ...]] = ()
    secret_fields: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()
    #: Where the provider keeps the data sent through this connection (e.g. "au", "us", "eu").
    data_location: ClassVar[str] = "unknown"
    package: ClassVar[str] = BUILTIN_PACKAGE


ACTIONS: dict[str, ActionSpec] = {}
TRIGGERS: dict[str, TriggerType] = {}
CONNECTIONS: dict[str, type[ConnectionType]] = {}

#: The package whose modules are being imported right now (built-ins, or one entry point's).
_current_package = threading.local()


def _package() -> str:
    return getattr(_current_package, "name", BUILTIN_PACKAGE)


def _refuse_duplicate(kind: str, name: str, existing_package: str) -> None:
    new = _package()
    if new == existing_package:
        raise RegistryError(f"{kind} {name!r} is registered twice by {new}")
    raise RegistryError(f"{kind} {name!r} is registered by both {existing_package} and {new}; "
                        f"uninstall one of them or rename the {kind}")


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
            _refuse_duplicate("action", name, ACTIONS[name].package)
        ACTIONS[name] = ActionSpec(
            name=name, title=title, description=description, category=category, config_model=config,
            run=func, side_effect=side_effect, connection_types=connection_types, package=_package(),
        )
        return func

    return decorator


def trigger_type(cls: type[TriggerType]) -> type[TriggerType]:
    """Class decorator: register a TriggerType subclass under its ``name``."""
    if cls.name in TRIGGERS:
        _refuse_duplicate("trigger", cls.name, TRIGGERS[cls.name].package)
    cls.package = _package()
    TRIGGERS[cls.name] = cls()
    return cls


def connection_type(cls: type[ConnectionType]) -> type[ConnectionType]:
    """Class decorator: register a ConnectionType subclass under its ``name``."""
    if cls.name in CONNECTIONS:
        _refuse_duplicate("connection type", cls.name, CONNECTIONS[cls.name].package)
    cls.package = _package()
    CONNECTIONS[cls.name] = cls
    return cls


_loaded = False
_load_lock = threading.RLock()


def _import_package_modules(package_name: str) -> None:
    pkg = importlib.import_module(package_name)
    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{package_name}.{mod.name}")


def _load_entry_points() -> None:
    """Import every module an installed package lists under the flowmate.* entry-point groups."""
    for group in ENTRY_POINT_GROUPS.values():
        for ep in sorted(entry_points(group=group), key=lambda e: (e.dist.name if e.dist else "", e.name)):
            _current_package.name = ep.dist.name if ep.dist else ep.value.split(".")[0]
            try:
                ep.load()
            finally:
                _current_package.name = BUILTIN_PACKAGE


def load_builtins() -> None:
    """Register the built-ins, then every installed plugin, exactly once per process.

    Raises RegistryError (naming both packages) when two of them claim the same name.
    """
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        for package_name in ("engine.actions", "engine.triggers", "engine.connection_types"):
            _import_package_modules(package_name)
        _load_entry_points()
        _loaded = True


load_all = load_builtins


def get_action(name: str) -> ActionSpec:
    """Look up an action, loading the built-ins on first use."""
    load_builtins()
    return ACTIONS[name]


def all_actions() -> dict[str, ActionSpec]:
    load_builtins()
    return dict(ACTIONS)


def all_triggers() -> dict[str, TriggerType]:
    load_builtins()
    return dict(TRIGGERS)


def get_trigger(name: str) -> TriggerType:
    """The trigger type ``name``; KeyError when no package registers it."""
    load_builtins()
    return TRIGGERS[name]


def all_connection_types() -> dict[str, type[ConnectionType]]:
    load_builtins()
    return dict(CONNECTIONS)
