"""``MotiaNB``: motia_nb's notebook settings, a traitlets ``Configurable``.

``%load_ext motia_nb`` adds one instance to ``shell.configurables``, which is how
IPython's ``%config`` finds it::

    %config MotiaNB                          # list the options and their values
    %config MotiaNB.database = ':memory:'    # switch database (same as %state use)
    %config MotiaNB.display_max_rows = 20

The same options can go in ``ipython_config.py`` (``c.MotiaNB.database = ...``).
"""

from __future__ import annotations

import warnings
from typing import Any

from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate
from traitlets.config import Config, Configurable

from ..session import default_session
from ..state import default_url
from ..state.urls import safe_url
from ..state.history import DEFAULT_KEEP, Retention
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


class HistoryKeep(Unicode):  # type: ignore[type-arg]
    """``history_keep``: a str (``'10000,7d'``, ``'all'``, ``'off'``), or an int count
    (``%config MotiaNB.history_keep = 10000`` is what the help's "a count" invites)."""

    info_text = "a count (int) or a str such as '10000', '7d', '10000,7d', 'all' or 'off'"

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super().validate(obj, value)


class MotiaNB(Configurable):
    """Settings of motia_nb's notebook surface (``%state`` magics, display, completion)."""

    database = Unicode(
        "",
        help=(
            "The state database: a file path, ':memory:' or redis://host:port/db. "
            "Empty means $MOTIA_NB_DB, else .motia/state.db under the kernel's working "
            "directory. Setting it switches the database now (like %state use)."
        ),
    ).tag(config=True)

    display_max_rows = Int(
        None,
        allow_none=True,
        help="Rows shown when a %state list DataFrame is displayed (None: pandas' display.max_rows).",
    ).tag(config=True)

    display_max_columns = Int(
        None,
        allow_none=True,
        help="Columns shown when a %state list DataFrame is displayed (None: pandas' display.max_columns).",
    ).tag(config=True)

    flatten = Bool(
        True,
        help="%state list: flatten nested objects into dotted columns (shipping.city).",
    ).tag(config=True)

    json_indent = Int(2, help="Indentation of values shown as JSON (%state get/set/update).").tag(config=True)

    completion_max_keys = Int(
        200,
        help=(
            "Tab completion offers at most this many keys (those starting with what is typed; "
            "an extra entry says when more match). IPython shows at most 500 completions."
        ),
    ).tag(config=True)

    worker_timeout = Float(
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
            "('100000,7d'), 'all', or 'off' (no changelog is written). Pruning runs off the writers' path."
        ),
    ).tag(config=True)

    busy_timeout = Float(
        None,
        allow_none=True,
        help=(
            "Seconds a state write waits for another process's SQLite write lock before it "
            "fails with a clear error (None: $MOTIA_NB_BUSY_TIMEOUT, else 10)."
        ),
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        self._applying = False
        self._shell_config: Config | None = None
        self._refused: set[tuple[str, str]] | None = None
        super().__init__(**kwargs)

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
        settings._shell_config = config
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

    @validate("history_keep")
    def _apply_history_keep(self, proposal: Any) -> Any:
        try:
            retention = Retention.parse(proposal["value"])
        except Exception as err:  # one line from %config; the old value stays
            raise TraitError(f"MotiaNB.{err}" if str(err).startswith("history_keep") else str(err)) from None
        default_session().manager.history_keep = retention
        return str(retention)

    @validate("busy_timeout")
    def _apply_busy_timeout(self, proposal: Any) -> Any:
        value = proposal["value"]
        try:
            default_session().manager.busy_timeout = value
        except Exception as err:  # a StateError naming the problem
            raise TraitError(f"MotiaNB.busy_timeout: {err}") from err
        return value

    @validate("json_indent")
    def _indent(self, proposal: Any) -> Any:
        if proposal["value"] < 0:
            raise TraitError(f"MotiaNB.json_indent must be >= 0, got {proposal['value']}")
        return proposal["value"]

    @validate("database")
    def _switch_database(self, proposal: Any) -> Any:
        # Switch in the validator, not an observer: if the new database cannot be
        # opened, the error propagates and the trait keeps its previous value.
        url = proposal["value"].strip()
        if not self._applying:
            state_manager = default_session().manager
            try:
                state_manager.use(url or default_url())
            except Exception as err:  # TraitError: %config reports it and keeps the old value
                raise TraitError(f"MotiaNB.database: cannot use {safe_url(url)!r}: {type(err).__name__}: {err}") from err
        return _MaskedURL(url) if safe_url(url) != url else url

    def record_database(self, url: str) -> None:
        """Set ``database`` to a URL already in use, without switching again."""
        self._applying = True
        try:
            self.database = url
        finally:
            self._applying = False
        config = self._shell_config
        if config is not None and "MotiaNB" in config:
            # what %config stored in the shell's config is applied again on %reload_ext:
            # keep it in step with the database actually chosen last
            config.MotiaNB.database = url
