"""The argument parser of one magic subcommand: argparse whose errors are one line.

A :class:`~.commands.Command` parses its words with an :class:`ArgParser`: argparse, but
every error is a one-line :class:`~.parsing.MagicUsageError` with the usage, plus a hint for
the usual slips: a name starting with '-' (it goes after ``--``), ``-h`` / ``--help`` (help is
``%state help NAME``), and a time written with a space (``--since 2026-05-01 12:00``: two
words).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from .parsing import MagicUsageError

__all__ = ["ArgParser"]


#: a date and a time of day, as ``str(datetime)`` and pandas write a time: two words unquoted
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")


def _split_time_hint(option: str, date: str, time: str) -> str:
    """The hint for ``--since 2026-05-01 12:00`` (a time written with a space, read as two
    words), or "" when ``date`` and ``time`` are not a date and a time of day."""
    if not (_DATE.fullmatch(date) and _TIME_OF_DAY.fullmatch(time)):
        return ""
    return (f"\n  hint: a time with a space is two words here; write it as one: {option} \"{date} {time}\" "
            f"(or {option} {date}T{time})")


class ArgParser(argparse.ArgumentParser):
    """argparse for one subcommand: errors are one-line :class:`MagicUsageError` with the usage."""

    usage_line = ""
    _words: list[str] = []

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        self._words = list(args or [])
        parsed = super().parse_args(args, namespace)
        split = self._split_time({o for a in self._actions for o in a.option_strings})
        if split:  # `--since 2026-05-01 12:00 orders`: the time's second word taken as a name
            option, date, time = self._split_at
            raise MagicUsageError(f"{self.prog}: {option} {date} {time}: {time!r} was read as a name\n"
                                  f"  usage: {self.usage_line or self.prog}{split}")
        return parsed

    def error(self, message: str) -> Any:  # type: ignore[override]
        msg = message.removeprefix("argument ")
        known = {o for a in self._actions for o in a.option_strings}
        # "-k" read as an option: a name starting with '-' goes after `--`; an option's value
        # (`--to -1`) stays with its option, and a negative number argparse reads as a name
        takes_value = {o for a in self._actions if a.option_strings and a.nargs != 0 for o in a.option_strings}
        dashed = [w for i, w in enumerate(self._words) if w[:1] == "-" and w[1:2] != "-" and w not in known
                  and not (i and self._words[i - 1] in takes_value) and not self._negative_number_matcher.match(w)
                  and f"{w!r}" not in msg]  # (-1 read as the value it is and refused: `--` changes nothing)
        hint = ""
        before_end = self._words[: self._words.index("--")] if "--" in self._words else self._words
        # add_help is off: say where the help is (`--help` even after the `--` a VALUE command's names get)
        if ({"-h", "--help"} & set(before_end) or "--help" in self._words) and not {"-h", "--help"} & known:
            magic, _, name = self.prog.partition(" ")
            hint = f"\n  hint: for help on this command write {magic} help {name}"
        elif split := self._split_time(known):
            hint = split
        elif dashed and "--" not in self._words and any(not a.option_strings for a in self._actions):
            example = " ".join([self.prog, *(w for w in self._words if w not in dashed), "--", *dashed])
            hint = f"\n  hint: a name starting with '-' goes after --: {example}"
        raise MagicUsageError(f"{self.prog}: {msg}\n  usage: {self.usage_line or self.prog}{hint}")

    _split_at: tuple[str, str, str] = ("", "", "")

    def _split_time(self, known: set[str]) -> str:
        """:func:`_split_time_hint` of an option followed by a date and a time of day (kept in
        ``_split_at``), or ""."""
        w = self._words
        for i in range(len(w) - 2):
            if w[i] in known and (hint := _split_time_hint(w[i], w[i + 1], w[i + 2])):
                self._split_at = (w[i], w[i + 1], w[i + 2])
                return hint
        return ""

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        raise MagicUsageError(message or f"{self.prog} exited with status {status}")
