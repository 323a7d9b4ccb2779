"""The engine's own listings, as its rows: ``engine::workers::list``, ``engine::functions::list``
and ``engine::triggers::list`` (pure: built from the connected workers the endpoint passes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .inputs import DESCRIPTIONS
from .workers import Worker

__all__ = ["wire_worker", "wire_trigger", "function_summaries"]


def wire_worker(w: Worker) -> dict[str, Any]:
    return {
        "id": w.id,
        "name": w.name,
        "runtime": w.runtime,
        "version": w.meta.get("version"),
        "pid": w.pid,
        "status": "connected",
        "connected_at_ms": int(w.connected_at.timestamp() * 1000),
        "function_count": len(w.functions),
        "functions": sorted(w.functions),
        "active_invocations": len(w.pending),
    }


def wire_trigger(t: dict[str, Any]) -> dict[str, Any]:
    return {"id": t["id"], "trigger_type": t["trigger_type"], "function_id": t["function_id"], "config": t.get("config")}


def function_summaries(engine_names: Iterable[str], workers: Iterable[Worker], data: Any) -> list[dict[str, Any]]:
    """``engine::functions::list``'s rows as the engine builds them (``FunctionSummary``: id,
    namespace, the owning worker's name, or a builtin's first id segment, description, metadata),
    sorted by id, filtered by the input's ``prefix`` / ``worker`` / ``workers``."""
    rows: dict[str, dict[str, Any]] = {}
    for f in sorted(engine_names):
        rows[f] = {"function_id": f, "namespace": "default", "worker_name": f.split("::", 1)[0]}
        if f in DESCRIPTIONS:
            rows[f]["description"] = DESCRIPTIONS[f]
    for x in workers:
        for f, frame in x.functions.items():
            if f in rows:  # an engine function, or one an older connection owns
                continue
            row: dict[str, Any] = {"function_id": f, "namespace": "default", "worker_name": x.name}
            for field in ("description", "metadata"):
                if frame.get(field) is not None:
                    row[field] = frame[field]
            rows[f] = row
    query = data if isinstance(data, dict) else {}
    prefix = query.get("prefix")
    names = [n for n in [query.get("worker"), *(query.get("workers") or [])] if isinstance(n, str)]
    return [
        r for f, r in sorted(rows.items())
        if (not isinstance(prefix, str) or f.startswith(prefix)) and (not names or r["worker_name"] in names)
    ]  # fmt: skip
