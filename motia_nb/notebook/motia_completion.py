"""Tab completion for ``%motia`` (pure logic; the matcher in :mod:`.completion` calls it).

After ``%motia `` it offers the subcommands (``cron`` then ``run``/``start``/...), then step
names or flow names where the subcommand takes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .step_magics import MOTIA_COMMANDS

__all__ = ["motia_completions", "STEP_COMMANDS", "FLOW_COMMANDS"]

#: %motia subcommands that take step names (at any position) or a flow name
STEP_COMMANDS = frozenset({"remove", "logs", "cron run"})
FLOW_COMMANDS = frozenset({"steps", "flow"})


def motia_completions(
    words: list[str],
    fragment: str,
    steps: Callable[[], Iterable[str]],
    flows: Callable[[], Iterable[str]],
    cron_steps: Callable[[], Iterable[str]] | None = None,
) -> list[tuple[str, str]]:
    """Candidates ``(text, type)`` for ``%motia`` (pure logic, like :func:`state_completions`);
    ``cron run`` offers ``cron_steps()`` (the steps with a cron trigger) when given."""

    def matching(names: Iterable[str], kind: str) -> list[tuple[str, str]]:
        return [(n, kind) for n in names if n.startswith(fragment)]

    def second_words(first: str) -> list[str]:
        return [n.split()[1] for n in MOTIA_COMMANDS if n.startswith(first + " ")]

    if not words:
        return matching(MOTIA_COMMANDS.first_words(), "subcommand")
    if words[0] == "help":
        if len(words) == 1:
            return matching(MOTIA_COMMANDS.first_words(), "subcommand")
        return matching(second_words(words[1]), "subcommand") if len(words) == 2 else []
    if len(words) == 1 and second_words(words[0]):
        return matching(second_words(words[0]), "subcommand")
    name = " ".join(words[:2]) if " ".join(words[:2]) in MOTIA_COMMANDS else words[0]
    given = len(words) - len(name.split())
    if name in STEP_COMMANDS and (name == "remove" or given == 0):
        names = cron_steps() if name == "cron run" and cron_steps is not None else steps()
        return matching([s for s in names if s not in words], "step")
    if name in FLOW_COMMANDS and given == 0:
        return matching(flows(), "flow")
    return []
