"""``MotiaNB``: motia_nb's notebook settings, a traitlets ``Configurable``.

``%load_ext motia_nb`` adds one instance to ``shell.configurables``, which is how
IPython's ``%config`` finds it::

    %config MotiaNB                          # list the options and their values
    %config MotiaNB.database = ':memory:'    # switch database (same as %state use)
    %config MotiaNB.display_max_rows = 20

``database``, ``history_keep`` and ``busy_timeout`` are the state manager's own settings:
``%config`` shows the value in effect, whoever set it (``%config``, ``%state use``,
``state_manager.use(...)``, ``state_manager.history_keep = ...``), and setting them either
way checks them the same way, with the same one-line error.

The same options can go in ``ipython_config.py`` (``c.MotiaNB.database = ...``).
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate
from traitlets.config import Config, Configurable

from ..session import default_session
from ..state import default_url
from ..state.errors import InvalidInputError, StateError
from ..state.numbers import as_int, as_number
from ..state.urls import safe_url
from ..state.history import DEFAULT_KEEP, KEEP_TYPES
from ..engine import settings as engine_settings

__all__ = ["MotiaNB", "HistoryKeep", "warn_unlocated"]


class _MaskedURL(str):
    """A database URL with a password: the URL itself, shown without its password
    (``%config MotiaNB`` lists ``Current: %r``; ``%config MotiaNB.database`` is a cell's
    result, and a saved notebook keeps both)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(safe_url(str(self)))


def _shown(name: str, value: Any) -> str:
    """``value`` as a message shows it: a database URL without its password."""
    return repr(safe_url(value)) if name == "database" and isinstance(value, str) else repr(value)


def _refused(shell: Any) -> set[tuple[str, str]]:
    """The ``(name, repr(value))`` settings of ``shell`` already refused and reported: the shell's
    config keeps a refused ``%config`` value, and each ``%reload_ext`` would apply it again."""
    seen = getattr(shell, "_motia_nb_refused_settings", None)
    if seen is None:
        seen = shell._motia_nb_refused_settings = set()
    return seen


def warn_unlocated(message: Any, category: type[Warning] = UserWarning) -> None:
    """A warning located in no file (``motia_nb:0: UserWarning: …``): where in motia_nb it was
    raised means nothing to the user, and a machine path would stay in a saved notebook."""
    warnings.warn_explicit(message, category, "motia_nb", 0, module="motia_nb", registry={})


class _InEffect:
    """A setting the state manager holds (mixed into a trait type): read from the manager, so
    ``%config MotiaNB`` shows what is in effect whoever set it (``%config``, ``%state use``,
    ``state_manager.x = ...``); set through it (``MotiaNB._apply``), which checks the value in
    its own words: one source of truth, nothing kept here to go stale.

    Applied when set, not in a deferred ``@validate``: traitlets cross-validates a held change
    (``update_config``) with ``getattr``, which reads the manager, not the value being set."""

    name: str

    def get(self, obj: Any, cls: Any = None) -> Any:
        return obj._in_effect(self.name)

    def set(self, obj: Any, value: Any) -> None:
        # the old value a change (and a rollback) names is the one in effect, not an older one set here
        obj._trait_values[self.name] = obj._in_effect(self.name)
        super().set(obj, value)  # type: ignore[misc]

    def _validate(self, obj: Any, value: Any) -> Any:
        current = obj._in_effect(self.name)
        if type(value) is type(current) and value == current:
            # the value in effect (as traitlets sets it again after a held change): nothing to do;
            # a database is not opened again (':memory:' would lose its items)
            return current
        return obj._apply(self.name, value)  # None too: busy_timeout back to its default


class HistoryKeep(_InEffect, Unicode):  # type: ignore[misc]
    """``history_keep``: a str (``'10000,7d'``, ``'all'``, ``'off'``), or an int count
    (``%config MotiaNB.history_keep = 10000`` is what the help's "a count" invites)."""

    info_text = KEEP_TYPES


class Database(_InEffect, Unicode):  # type: ignore[misc]
    info_text = "a path, ':memory:' or redis://host:port/db (a str)"


class BusyTimeout(_InEffect, Float):  # type: ignore[misc]
    info_text = "a number of seconds >= 0, or None"


class Count(Int):  # type: ignore[type-arg]
    """An int setting: a numpy integer too (a count taken from a DataFrame), as every count
    motia_nb takes (:func:`motia_nb.state.numbers.as_int`); never a bool."""

    def validate(self, obj: Any, value: Any) -> Any:
        n = as_int(value)
        if n is None:
            self.error(obj, value)
        return super().validate(obj, n)


class Seconds(Float):  # type: ignore[type-arg]
    """A number of seconds: an int, a float or a numpy number (:func:`motia_nb.state.numbers.as_number`); never a bool."""

    def validate(self, obj: Any, value: Any) -> Any:
        n = as_number(value)
        if n is None:
            self.error(obj, value)
        return super().validate(obj, float(n))


class MotiaNB(Configurable):
    """Settings of motia_nb's notebook surface (``%state`` magics, display, completion)."""

    database = Database(
        "",
        help=(
            "The state database: a file path, ':memory:' or redis://host:port/db. "
            "Empty means $MOTIA_NB_DB, else .motia/state.db under the kernel's working "
            "directory. Setting it switches the database now (like %state use); it shows "
            "the database in use (however it was chosen: %state use, state_manager.use)."
        ),
    ).tag(config=True)

    display_max_rows = Count(
        None,
        allow_none=True,
        help="Rows shown when a %state list DataFrame is displayed, and entries when a long "
        "%state list --values / --dict or %state groups is (None: pandas' display.max_rows).",
    ).tag(config=True)

    display_max_columns = Count(
        None,
        allow_none=True,
        help="Columns shown when a %state list DataFrame is displayed (None: pandas' display.max_columns).",
    ).tag(config=True)

    flatten = Bool(
        True,
        help="%state list: flatten nested objects into dotted columns (shipping.city).",
    ).tag(config=True)

    json_indent = Count(2, help="Indentation of values shown as JSON (%state get/set/update).").tag(config=True)

    completion_max_keys = Count(
        200,
        help=(
            "Tab completion offers at most this many keys (those starting with what is typed; "
            "an extra entry says when more match). IPython shows at most 500 completions."
        ),
    ).tag(config=True)

    worker_timeout = Seconds(
        30.0,
        help=(
            "Seconds a cell waits for a connected worker (%motia serve) to answer a step "
            "or a condition before it reports a timeout."
        ),
    ).tag(config=True)

    history_keep = HistoryKeep(
        DEFAULT_KEEP,
        help=(
            "How much state history to keep (%state history, state_manager.history): a count of the "
            "newest changes ('100000'; per group on Redis), an age ('7d'; units s m h d w), both "
            "('100000,7d'), 'all', or 'off' (no changelog is written). Pruning runs off the writers' path. "
            "The same setting as state_manager.history_keep: either shows what the other set."
        ),
    ).tag(config=True)

    busy_timeout = BusyTimeout(
        None,
        allow_none=True,
        help=(
            "Seconds a state write waits for another process's SQLite write lock, and a Redis "
            "call for the server's answer, before it fails with a clear error "
            "(None: $MOTIA_NB_BUSY_TIMEOUT, else 10). "
            "The same setting as state_manager.busy_timeout: either shows what the other set."
        ),
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        self._applying = False
        self._shell: Callable[[], Any] = lambda: None  # weakly: the shell whose config this follows
        self._refused: set[tuple[str, str]] | None = None
        super().__init__(**kwargs)
        # a setting changed on the manager (state_manager.history_keep = ..., %state use) is kept in
        # the shell's config too, so %reload_ext does not apply an older %config value again
        default_session().manager._watch_settings(self._manager_setting)

    def _in_effect(self, name: str) -> Any:
        """The manager's ``name`` now (``database``: its URL, shown without a password)."""
        manager = default_session().manager
        if name == "database":
            url = manager.url
            if os.path.isabs(url):  # a file under the working directory by its relative path, as %state use
                rel = os.path.relpath(url)  # shows it (no machine path in a saved notebook's listing)
                url = url if rel == ".." or rel.startswith(".." + os.sep) else rel
            return _MaskedURL(url) if safe_url(url) != url else url
        if name == "busy_timeout" and manager._busy_timeout is None:
            try:
                return manager.busy_timeout  # $MOTIA_NB_BUSY_TIMEOUT, else the default
            except StateError:  # a bad $MOTIA_NB_BUSY_TIMEOUT: the listing still shows; a write says why
                return None
        return getattr(manager, name)

    def _manager_setting(self, name: str, value: Any) -> None:
        if self._applying:  # set through this object: the config it came from holds it already
            return
        # the shell's config now: each %config replaces the object (traitlets' update_config)
        config = getattr(self._shell(), "config", None)
        if config is not None and "MotiaNB" in config and name in config.MotiaNB:
            config.MotiaNB[name] = value

    def _apply(self, name: str, value: Any) -> Any:
        """Set the manager's ``name`` (``database``: switch to it, as ``%state use``); a refusal is the
        manager's own one-line error, named ``MotiaNB.name``, and changes nothing."""
        manager = default_session().manager
        self._applying = True
        try:
            if name == "database":
                blank = isinstance(value, str) and not value.strip()
                manager.use(default_url() if blank else value)
            else:
                setattr(manager, name, value)
        except (InvalidInputError, StateError) as err:
            text = str(err)
            if text.startswith(name):  # the manager's words (state_manager.history_keep = 'x' says the same)
                raise TraitError(f"MotiaNB.{text}") from None
            if name != "database":
                raise TraitError(f"MotiaNB.{name}: {text}") from None
            raise TraitError(self._cannot_use(value, err)) from err
        except Exception as err:  # sqlite3/OS errors opening a database
            if name != "database":
                raise
            raise TraitError(self._cannot_use(value, err)) from err
        finally:
            self._applying = False
        return self._in_effect(name)

    @staticmethod
    def _cannot_use(value: Any, err: Exception) -> str:
        shown = safe_url(value) if isinstance(value, str) else value
        return f"MotiaNB.database: cannot use {shown!r}: {type(err).__name__}: {err}"

    @classmethod
    def for_shell(cls, shell: Any) -> "MotiaNB":
        """Settings for ``shell``, taking ``c.MotiaNB.*`` / earlier ``%config MotiaNB...`` values.

        Each value is applied on its own: one that is invalid (or a database that
        cannot be opened) is reported as a warning and skipped, so loading the
        extension never fails because of a stale setting.
        """
        settings = cls()
        config = getattr(shell, "config", None)
        if config is None:
            return settings
        try:
            settings._shell = weakref.ref(shell)
        except TypeError:  # a stand-in shell without weak references
            settings._shell = lambda: shell
        settings._refused = refused = _refused(shell)
        section = config.get("MotiaNB", {}) if "MotiaNB" in config else {}
        # a value taken out of the config (or changed) and put back later is reported again
        refused.intersection_update((name, repr(value)) for name, value in dict(section).items())
        for name, value in dict(section).items():
            seen = (name, repr(value))
            if not settings.has_trait(name):
                if seen not in refused:
                    refused.add(seen)
                    warn_unlocated(f"MotiaNB has no setting {name!r} (ignored)")
                continue
            try:
                setattr(settings, name, value)
            except Exception as err:
                if seen not in refused:  # reported once: when %config refused it, or at the first load
                    refused.add(seen)
                    warn_unlocated(f"MotiaNB.{name} = {_shown(name, value)} ignored: {err}")
        return settings

    def update_config(self, config: Config) -> None:
        """``%config MotiaNB.x = v``: a value refused here is reported now (IPython prints the
        error) and stays in the shell's config; remember it so a later load does not warn again."""
        try:
            super().update_config(config)
        except Exception:
            section = config.get("MotiaNB", {}) if "MotiaNB" in config else {}
            refused = getattr(self, "_refused", None)
            if refused is not None:
                for name, value in dict(section).items():
                    if not self.has_trait(name) or getattr(self, name) != value:
                        refused.add((name, repr(value)))
            raise

    @validate("display_max_rows", "display_max_columns", "completion_max_keys")
    def _non_negative(self, proposal: Any) -> Any:
        v = proposal["value"]
        if v is not None and v < 0:
            raise TraitError(f"MotiaNB.{proposal['trait'].name} must be >= 0, got {v}")
        return v

    @validate("worker_timeout")
    def _positive_timeout(self, proposal: Any) -> Any:
        if not proposal["value"] > 0:
            raise TraitError(f"MotiaNB.worker_timeout must be > 0 seconds, got {proposal['value']}")
        return proposal["value"]

    @observe("worker_timeout")
    def _apply_timeout(self, change: Any) -> None:
        engine_settings.worker_timeout = float(change["new"])

    @validate("json_indent")
    def _indent(self, proposal: Any) -> Any:
        if proposal["value"] < 0:
            raise TraitError(f"MotiaNB.json_indent must be >= 0, got {proposal['value']}")
        return proposal["value"]
