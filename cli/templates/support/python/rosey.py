"""Helpers for Rosey plugins written in Python (built with componentize-py).

Written into .rosey/python/ by `rosey plugin create` and `rosey plugin build`,
to match the rosey that builds the plugin: do not edit it, it is rewritten.

A plugin module (app.py) defines a class named `Guest` that extends
`rosey.Plugin` and overrides the handlers it needs:

    import rosey

    class Guest(rosey.Plugin):
        def on_command(self, cmd: rosey.Command) -> str | None:
            return f"{rosey.config('greeting', 'Hello')}, {cmd.user}!"

What `Plugin` adds to the raw bindings (`wit_world`):

- every handler has a default (see `Plugin`), as in the Rust SDK;
- an exception from a handler becomes the handler's error (the chat reply
  `Error: ValueError: ...`, logged and counted) instead of crashing the
  instance; a host error (`componentize_py_types.Err` carrying a
  `wit_world.imports.types.Error_*`) reads as in the Rust SDK
  (`permission denied: ...`, `limit reached: ...`).

The bindings stay available for everything else:
`from wit_world.imports import bus, chat, kv, sql`. `kv`, `sql` and `chat`
exist only when manifest.yaml grants their permission (`database_access`,
`send_messages`): `rosey plugin build` builds against exactly the
interfaces the manifest allows.
"""

import functools
import json
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import bus
from wit_world.imports import config as _config
from wit_world.imports import log as _log
from wit_world.imports.types import (
    Command,
    Error_Denied,
    Error_Invalid,
    Error_Limit,
    Error_Other,
    Error_Unavailable,
    Message,
)

try:
    from wit_world.imports import kv as _kv
    from wit_world.imports import sql as _sql
except ImportError:  # manifest.yaml does not grant database_access
    _kv = None
    _sql = None

try:
    from wit_world.imports import chat as _chat
except ImportError:  # manifest.yaml does not grant send_messages
    _chat = None

__all__ = [
    "Command",
    "Err",
    "Message",
    "Plugin",
    "bus",
    "config",
    "config_all",
    "debug",
    "describe",
    "error",
    "execute",
    "info",
    "kv_delete",
    "kv_get",
    "kv_keys",
    "kv_set",
    "publish",
    "query",
    "say",
    "warn",
]

_HANDLERS = ("init", "on_message", "on_command", "on_schedule", "on_config_changed")


def describe(error: object) -> str:
    """The text of a host error (or of any `Err` payload), as the Rust SDK words it."""
    if isinstance(error, Error_Denied):
        return f"permission denied: {error.value}"
    if isinstance(error, Error_Invalid):
        return f"invalid argument: {error.value}"
    if isinstance(error, Error_Limit):
        return f"limit reached: {error.value}"
    if isinstance(error, Error_Unavailable):
        return f"unavailable: {error.value}"
    if isinstance(error, Error_Other):
        return str(error.value)
    return str(error)


def _guard(name, handler):
    """Turn whatever `handler` raises into the `Err(str)` the host expects."""

    @functools.wraps(handler)
    def guarded(self, *args):
        try:
            return handler(self, *args)
        except Err as e:
            raise Err(describe(e.value)) from None
        except Exception as e:  # noqa: BLE001 - every error must reach the host as text
            _log.log(_log.Level.DEBUG, f"{name} raised:\n{traceback.format_exc()}")
            raise Err(f"{type(e).__name__}: {e}") from None

    return guarded


class Plugin(exports.Guest):
    """The base of a plugin's `Guest` class: defaults for every handler.

    There is no state to rely on between calls: after a crash the host makes
    a fresh instance (and calls `init` again), and an update replaces it.
    Keep what must last in kv, sql or /data. Module-level code runs once,
    when the component is *built* (componentize-py snapshots it): seed
    randomness and read the clock in handlers, not at import time.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in _HANDLERS:
            if name in cls.__dict__:
                setattr(cls, name, _guard(name, cls.__dict__[name]))

    def init(self) -> None:
        """Called after every instantiation, before any event."""

    def on_message(self, msg: Message) -> None:
        """A message on a subject the manifest subscribes to (ignored by default)."""

    def on_command(self, cmd: Command) -> str | None:
        """A command the manifest declares; return the reply text, or None."""
        raise Err(f"command `{cmd.name}` is declared but the plugin does not implement on_command")

    def on_schedule(self, name: str) -> None:
        """A schedule the manifest declares has fired."""
        raise Err(f"schedule `{name}` is declared but the plugin does not implement on_schedule")

    def on_config_changed(self, keys: list[str]) -> None:
        """The operator changed these top-level configuration keys (ignored by default)."""

    def shutdown(self) -> None:
        """The plugin is being stopped."""


# ------------------------------------------------------------------ config


def config(key: str, default=None):
    """The configuration value under top-level `key` (decoded JSON), or `default`."""
    text = _config.get(key)
    return default if text is None else json.loads(text)


def config_all() -> dict:
    """The whole configuration, with the manifest's defaults filled in."""
    return json.loads(_config.get_all())


# --------------------------------------------------------------------- log


def debug(message: str) -> None:
    """Log at debug level (shown when the operator sets ROSEY_LOG=...,rosey::plugin=debug)."""
    _log.log(_log.Level.DEBUG, message)


def info(message: str) -> None:
    """Log at info level."""
    _log.log(_log.Level.INFO, message)


def warn(message: str) -> None:
    """Log at warn level."""
    _log.log(_log.Level.WARN, message)


def error(message: str) -> None:
    """Log at error level."""
    _log.log(_log.Level.ERROR, message)


# ---------------------------------------------------------------- kv (JSON)


def _need(module, what: str, permission: str):
    if module is None:
        raise Err(
            Error_Denied(
                f"{permission} (needed for {what}; add it to manifest.yaml's permissions and rebuild)"
            )
        )
    return module


def kv_get(key: str, default=None):
    """The JSON value stored under `key`, or `default` if absent or expired."""
    raw = _need(_kv, "kv", "database_access").get(key)
    return default if raw is None else json.loads(raw)


def kv_set(key: str, value, ttl_ms: int | None = None) -> None:
    """Store `value` as JSON under `key`; with `ttl_ms` it expires after that many ms."""
    _need(_kv, "kv", "database_access").set(key, json.dumps(value).encode(), ttl_ms)


def kv_delete(key: str) -> bool:
    """Remove `key`; True if it was present."""
    return _need(_kv, "kv", "database_access").delete(key)


def kv_keys(prefix: str = "") -> list[str]:
    """The keys that start with `prefix`, sorted."""
    return _need(_kv, "kv", "database_access").list_keys(prefix)


# --------------------------------------------------------------------- sql


def _value(param):
    sql = _need(_sql, "sql", "database_access")
    if param is None:
        return sql.Value_Null()
    if isinstance(param, bool):
        return sql.Value_Integer(int(param))
    if isinstance(param, int):
        return sql.Value_Integer(param)
    if isinstance(param, float):
        return sql.Value_Real(param)
    if isinstance(param, str):
        return sql.Value_Text(param)
    if isinstance(param, (bytes, bytearray)):
        return sql.Value_Blob(bytes(param))
    raise TypeError(f"cannot bind a {type(param).__name__} as an SQL parameter")


def execute(statement: str, *params) -> int:
    """Run one statement that returns no rows; returns the number of rows changed."""
    sql = _need(_sql, "sql", "database_access")
    return sql.execute(statement, [_value(p) for p in params])


def query(statement: str, *params) -> list[dict]:
    """Run one query; each row is a dict from column name to Python value."""
    sql = _need(_sql, "sql", "database_access")
    rows = sql.query(statement, [_value(p) for p in params])
    return [
        {column: getattr(value, "value", None) for column, value in zip(rows.columns, row)}
        for row in rows.rows
    ]


# ------------------------------------------------------------ chat and bus


def say(channel: str, text: str) -> None:
    """Send `text` to `channel` on the plugin's own (needs send_messages)."""
    _need(_chat, "chat", "send_messages").send(channel, text)


def publish(subject: str, payload) -> None:
    """Publish on `subject`: bytes as they are, str as UTF-8, anything else as JSON."""
    if isinstance(payload, str):
        payload = payload.encode()
    elif not isinstance(payload, (bytes, bytearray)):
        payload = json.dumps(payload).encode()
    bus.publish(subject, bytes(payload))
