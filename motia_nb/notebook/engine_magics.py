"""``%motia serve``, ``%motia serve stop`` and ``%motia workers``: the kernel as a local engine.

Small functions the ``%motia`` router calls with the words after the
subcommand; each returns something a cell displays::

    %motia serve [--port N] [--host H]   start the endpoint; shows its URL and how to connect
    %motia serve stop                    close it (connected workers lose their steps)
    %motia workers                       the connected workers and their steps, as a DataFrame
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from motia_nb import engine
from motia_nb.steps.config import CronTrigger

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["serve_cmd", "stop_cmd", "workers_cmd", "EngineUsageError"]


class EngineUsageError(ValueError):
    """A ``%motia serve`` / ``workers`` line that cannot run; shown as one line, the cell fails."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mEngineUsageError\x1b[0m: {self}"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise EngineUsageError(f"%motia serve: {message} (usage: %motia serve [--port N] [--host H] | %motia serve stop)")


_parser = _Parser(prog="%motia serve", add_help=False)
_parser.add_argument("--port", type=int, default=0)
_parser.add_argument("--host", default="127.0.0.1")


class Serving:
    """What ``%motia serve`` shows: the URL and the command that connects a Motia project."""

    def __init__(self, server: engine.Server) -> None:
        self.server = server

    def __repr__(self) -> str:
        url = self.server.url
        text = (
            f"motia_nb is serving the iii engine protocol at {url}\n"
            f"connect a Motia project:  III_URL={url} motia run --dir steps\n"
            "%motia workers lists connected workers; %motia serve stop ends it"
        )
        crons = [st.name for st in self.server.session.registry.with_trigger(CronTrigger)]
        if self.server.owns_scheduler and crons:  # the notebook's own cron steps start firing: say so
            runs = "now runs on its schedule" if len(crons) == 1 else "now run on their schedule"
            text += (f"\nserving starts the cron scheduler (the engine runs cron triggers): {', '.join(crons)} {runs}; "
                     "%motia cron stop stops it")
        return text


def serve_cmd(args: list[str]) -> Any:
    """``%motia serve [--port N] [--host H]`` (``stop`` as the only word: :func:`stop_cmd`)."""
    if args == ["stop"]:
        return stop_cmd()
    opts = _parser.parse_args(args)
    running = engine.servers()
    if running:
        raise EngineUsageError(f"already serving at {running[-1].url}; run %motia serve stop first")
    try:
        server = engine.serve(port=opts.port, host=opts.host)
    except (OSError, ValueError) as e:
        raise EngineUsageError(str(e)) from None
    return Serving(server)


def stop_cmd() -> str:
    """``%motia serve stop``: close every endpoint; says what was stopped."""
    running = engine.servers()
    if not running:
        return "no engine endpoint was running"
    gone = sum(len(s.workers) for s in running)
    engine.stop_all(running)
    urls = ", ".join(s.url for s in running)
    return f"stopped serving at {urls}" + (f" ({gone} worker(s) disconnected, their steps removed)" if gone else "")


def workers_cmd() -> "pd.DataFrame":
    """``%motia workers``: one row per connected worker (name, runtime, pid, connected at, steps)."""
    import pandas as pd

    running = engine.servers()
    rows = [w for s in running for w in s.workers]
    if not running:  # an empty frame alone does not say why (as %state list's note on an empty group)
        print("%motia workers: no engine endpoint is running (%motia serve starts one)", file=sys.stderr)
    elif not rows:
        urls = ", ".join(s.url for s in running)
        print(f"%motia workers: no worker is connected to {urls} (III_URL={running[0].url} motia run --dir steps "
              "connects one)", file=sys.stderr)
    return pd.DataFrame(
        {
            "worker": pd.Series([w["name"] for w in rows], dtype=object),
            "runtime": pd.Series([w["runtime"] for w in rows], dtype=object),
            "pid": pd.Series([w["pid"] for w in rows], dtype=object),
            "connected_at": pd.Series([w["connected_at"] for w in rows], dtype=object),
            "steps": pd.Series([", ".join(w["steps"]) for w in rows], dtype=object),
            "functions": pd.Series([len(w["functions"]) for w in rows], dtype="int64"),
        }
    )
