"""Flow diagrams: the steps of a flow, their triggers and the topics between them.

:func:`flow_diagram` returns a :class:`FlowDiagram` whose rich output is a
Mermaid chart in Markdown (JupyterLab ≥ 4.1 renders ```` ```mermaid ```` natively:
no system binary, no extension) and whose ``text/plain`` form is a stable
one-line-per-step listing (what nbval compares). ``.mermaid`` is the chart source.
"""

from __future__ import annotations

from typing import Any

from .config import CronTrigger, HttpTrigger, QueueTrigger, StateTrigger, StreamTrigger
from .errors import StepCallError
from .registry import Step

__all__ = ["FlowDiagram", "flow_diagram"]


def _label(text: str) -> str:
    """A Mermaid node label: quoted, with quotes and angle brackets escaped."""
    return '"' + text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;") + '"'


def _shown(st: Step) -> str:
    """The step's name, with its worker for a step served by a connected worker (motia_nb.engine)."""
    return f"{st.name} (worker {st.source[7:]})" if st.source.startswith("worker:") else st.name


class FlowDiagram:
    """The steps of one flow (or of every step) as a graph you can display or read."""

    def __init__(self, steps: list[Step], flow: str | None) -> None:
        self.flow = flow
        self.steps = steps

    @property
    def topics(self) -> list[str]:
        """Every topic a step of the flow enqueues or listens to, in first-seen order."""
        seen: dict[str, None] = {}
        for st in self.steps:
            for t in st.of_type(QueueTrigger):
                seen.setdefault(t.topic)
            for topic in st.enqueues:
                seen.setdefault(topic)
        return list(seen)

    @property
    def mermaid(self) -> str:
        """The Mermaid ``flowchart LR`` source."""
        lines = ["flowchart LR"]
        topic_id = {t: f"t{i}" for i, t in enumerate(self.topics)}
        for topic, tid in topic_id.items():
            lines.append(f"  {tid}([{_label(topic)}])")
        uses_state = any(st.of_type(StateTrigger) for st in self.steps)
        if uses_state:
            lines.append(f"  state[({_label('state')})]")
        for i, st in enumerate(self.steps):
            sid = f"s{i}"
            lines.append(f"  {sid}[{_label(_shown(st))}]")
            for j, trig in enumerate(st.triggers):
                if isinstance(trig, QueueTrigger):
                    lines.append(f"  {topic_id[trig.topic]} --> {sid}")
                elif isinstance(trig, HttpTrigger):
                    lines.append(f"  h{i}_{j}[/{_label(trig.method + ' ' + trig.path)}/] --> {sid}")
                elif isinstance(trig, CronTrigger):
                    lines.append(f"  c{i}_{j}({_label('cron ' + trig.expression)}) --> {sid}")
                elif isinstance(trig, StreamTrigger):  # a stream's changes: a store of its own, as state
                    where = "/".join(x for x in (trig.group_id, trig.item_id) if x)
                    lines.append(f"  st{i}_{j}[({_label('stream ' + trig.stream_name + (' ' + where if where else ''))})] --> {sid}")
                elif isinstance(trig, StateTrigger):
                    cond = getattr(trig.condition, "__name__", None)
                    edge = f" -- {_label('if ' + cond)} -->" if cond and cond != "<lambda>" else " -->"
                    lines.append(f"  state{edge} {sid}")
            for topic in st.enqueues:
                lines.append(f"  {sid} --> {topic_id[topic]}")
        lines.append("  classDef topic fill:#fff4d6,stroke:#c9a227")
        if topic_id:
            lines.append("  class " + ",".join(topic_id.values()) + " topic")
        return "\n".join(lines)

    def text(self) -> str:
        """One line per step: ``triggers → Step → enqueued topics``."""
        head = f"flow {self.flow!r}" if self.flow else "all steps"
        out = [f"{head}: {len(self.steps)} step(s), {len(self.topics)} topic(s)"]
        for st in self.steps:
            trig = ", ".join(t.describe() for t in st.triggers) or "no trigger"
            line = f"  [{trig}] → {_shown(st)}"
            if st.enqueues:
                line += " → " + ", ".join(f"({t})" for t in st.enqueues)
            out.append(line)
        return "\n".join(out)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/markdown": "```mermaid\n" + self.mermaid + "\n```", "text/plain": self.text()}

    def __repr__(self) -> str:
        return self.text()


def flow_diagram(all_steps: list[Step], flow: str | None = None) -> FlowDiagram:
    """The diagram of the steps whose ``flows`` include ``flow`` (every step when None).

    Raises :class:`~motia_nb.steps.errors.StepCallError` (a ValueError) naming the known flows when
    no step belongs to ``flow``.
    """
    steps = [s for s in all_steps if flow is None or flow in s.flows]
    if flow is not None and not steps:
        known = sorted({f for s in all_steps for f in s.flows})
        raise StepCallError(f"no step belongs to flow {flow!r} (known flows: {', '.join(known) or 'none'})")
    return FlowDiagram(steps, flow)
