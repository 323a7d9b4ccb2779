"""Tab completion for ``%state`` / ``%%state`` and ``%motia`` (IPython's Matcher API v2).

After ``%state `` it offers the subcommands; after a subcommand that takes a group,
the non-empty groups; after a group, the keys that start with what is typed, found
by an indexed prefix query (``keys_with_prefix``: any key of a 1,000,000-item group
completes), at most ``MotiaNB.completion_max_keys`` of them, plus a hint entry when
more match (type more of the key to narrow them);
after ``--`` or after every name, the subcommand's options (those not given yet); at an
option's value (``--since ``, ``--to ``, ``--limit ``), one entry naming what it takes
(``SEQ|TIME``), the text as typed (else IPython would offer Python's keywords and every
magic there); ``history`` and ``restore`` also offer the keys of a group's recent changes
that are no longer stored. At ``set``'s VALUE it offers the item's value as JSON text
(one item's read; not when longer than ``CURRENT_VALUE_MAX``), else, there and at ``update``'s
OPS, one entry as typed naming what goes there. A name starting with '-' is inserted after
``--`` (as the parser reads it); a name with a line break (no line can hold one) is left out,
one entry saying so instead. After ``%motia `` it offers the subcommands
(``cron`` then ``run``/``start``/...), then step names or flow names where the
subcommand takes one. Words are split by the magics' own tokenizer. The matcher
is a plain function added to ``shell.Completer.custom_matchers`` by the extension
and removed on unload.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, SimpleMatcherResult, context_matcher

from motia_nb.session import all_steps, default_session
from motia_nb.steps.config import CronTrigger

from .commands import Tail
from .config import MotiaNB
from .magics import SUBCOMMANDS
from .parsing import tokenize
from .motia_completion import motia_completions

__all__ = ["make_state_matcher", "MATCHER_ID", "MORE_KEYS", "NOTHING_MORE", "CURRENT_VALUE", "NO_MATCH", "LINE_BREAK", "state_completions", "motia_completions", "key_candidates"]

MATCHER_ID = "motia_nb.state"

GROUP_COMMANDS = frozenset({"set", "get", "list", "delete", "clear", "update", "viewer", "export", "history", "restore"})
#: subcommands that take a file: file-path completion adds its candidates
FILE_COMMANDS = frozenset({"use", "export", "import"})
KEY_COMMANDS = frozenset({"set", "get", "delete", "update", "history", "restore"})
#: subcommands about an item's past: a key deleted since (its history, restoring it) is offered too
PAST_KEY_COMMANDS = frozenset({"history", "restore"})
#: how many of a group's newest changes are read for the keys deleted since
PAST_CHANGES = 100

_LINE_MAGIC = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\s*=\s*)?%(?P<magic>state|motia)\s(?P<args>.*)$", re.S)
_CELL_MAGIC = re.compile(r"^\s*%%(?P<magic>state)\s(?P<args>.*)$", re.S)



def _words(args: str) -> tuple[list[str], str, str] | None:
    """The complete words after ``%state``, the word being typed and the quote it left open
    (``""`` when none); ``None`` inside a comment.

    The magic's own tokenizer: quotes group words, and an unclosed quote just
    means the word is still being typed.
    """
    tokens = tokenize(args)
    if tokens.end < len(args):
        return None
    words = [w.text for w in tokens.words]
    if tokens.touches_end():
        return words[:-1], words[-1], tokens.words[-1].unclosed
    return words, "", ""


#: names that the tokenizer would split or misread unquoted
_NEEDS_QUOTES = re.compile(r"[\s'\"]")


def _quoted(name: str, inserted: str, open_quote: str) -> str:
    """``inserted`` (the end of ``name`` that completion adds) written so the line reads back
    ``name``: inside an open quote, the rest and the closing quote; else, when ``name`` holds
    a space or a quote (or starts a comment), the rest in double quotes (a quote may open
    inside a word, so ``a-`` + ``"b c"`` reads ``a-b c``)."""
    if open_quote == '"':
        return inserted.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if open_quote == "'":
        return inserted + "'" if "'" not in inserted else inserted
    if _NEEDS_QUOTES.search(name) or (inserted == name and name.startswith("#")):
        return '"' + inserted.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return inserted


def _one_line(text: str) -> bool:
    """True when ``text`` holds no line break (a magic's line ends at one, as IPython reads it)."""
    return len(text.splitlines()) <= 1 and not text.endswith(("\n", "\r"))


def _inserted(name: str, kind: str, cut: int, open_quote: str, dashes: bool) -> str:
    """What completion inserts for the candidate ``name`` (its first ``cut`` characters are
    typed): a hint or option as it is; a name quoted as the tokenizer reads it, after ``--``
    when it starts with '-' (else it would be read as an option)."""
    if kind in _VERBATIM:
        return name[cut:]
    if dashes and name.startswith("-"):
        return ("-- " + _quoted(name, name, ""))[cut:]
    return _quoted(name, name[cut:], open_quote)


def _takes_body(command: str) -> bool:
    tail = SUBCOMMANDS[command].tail
    return tail is not None and tail.cell


def _options(command: str) -> list[str]:
    cmd = SUBCOMMANDS.get(command)
    return cmd.options() if cmd is not None else []


def _options_left(command: str, words: list[str]) -> list[str]:
    """The options of ``command`` not given in ``words`` (``--to=3`` gives ``--to``), nor
    excluded by one given (``--values`` excludes ``--dict``)."""
    cmd = SUBCOMMANDS.get(command)
    if cmd is None:
        return []
    given = {w.partition("=")[0] for w in words if w.startswith("--")}
    taken = set(given)
    for group in cmd.parser._mutually_exclusive_groups:
        opts = {o for a in group._group_actions for o in a.option_strings}
        if opts & given:
            taken |= opts
    return [o for o in cmd.options() if o not in taken]


def _value_kind(command: str, option: str) -> str:
    """What ``option`` of ``command`` takes, as its usage names it (``SEQ|TIME``)."""
    cmd = SUBCOMMANDS.get(command)
    for action in cmd.parser._actions if cmd is not None else ():
        if option in action.option_strings:
            return str(action.metavar or action.dest.upper())
    return "VALUE"


def _value_kinds() -> frozenset[str]:
    """Every kind :func:`_value_kind` may answer (entries inserted as typed)."""
    return frozenset(
        _value_kind(c, o) for c in SUBCOMMANDS for o in SUBCOMMANDS[c].value_options()
    ) | {"VALUE"}


def _names(command: str, words: list[str]) -> list[str] | None:
    """The name words of ``words`` (those after the subcommand), options and their values
    left out (``history --since 1 orders`` names ``orders``); ``None`` when the word being
    typed is an option's value."""
    cmd = SUBCOMMANDS.get(command)
    takes_value = cmd.value_options() if cmd is not None else frozenset()
    names: list[str] = []
    wants_value = after_dashes = False
    for word in words:
        if wants_value:
            wants_value = False
        elif after_dashes:
            names.append(word)
        elif word == "--":  # every word after it is a name (`get orders -- -k`)
            after_dashes = True
        elif word.startswith("-") and len(word) > 1:
            wants_value = word in takes_value  # `--to=3` carries its value
        else:
            names.append(word)
    return None if wants_value else names


def _no_match_said(fn: Callable[..., list[tuple[str, str]]]) -> Callable[..., list[tuple[str, str]]]:
    """``fn`` with one entry, the text as typed, where a word starting with '-' matched nothing."""

    @functools.wraps(fn)
    def completions(words: list[str], fragment: str, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        found = fn(words, fragment, *args, **kwargs)
        return [(fragment, NO_MATCH)] if not found and words and fragment.startswith("-") else found

    return completions


@_no_match_said
def state_completions(
    words: list[str],
    fragment: str,
    groups: Callable[[], Iterable[str]],
    keys: Callable[[str, str], Iterable[str]],
    cell: bool = False,
    past_keys: Callable[[str, str], Iterable[str]] | None = None,
    value: Callable[[str, str], str | None] | None = None,
) -> list[tuple[str, str]]:
    """Candidates ``(text, type)`` for the word ``fragment`` after ``words`` (pure logic).

    ``groups()`` and ``keys(group, prefix)`` are only called when their names are wanted;
    ``keys`` answers the keys starting with ``prefix`` (it may add a hint entry). With
    ``cell`` (the first line of ``%%state``) only the subcommands that take a cell body
    are offered. ``past_keys(group, prefix)``, when given, answers the keys of the group's
    recent changes starting with ``prefix`` that are no longer stored: ``history`` and
    ``restore`` offer those too (typed ``deleted key``). At a VALUE or OPS (see
    :func:`_tail_completions`), ``value(group, key)``, when given, answers the item's value
    as JSON text (``None``: no item, or too long to offer). A word starting with '-' that
    no option nor name starts with gets one entry saying so (the text as typed).
    """
    if not words:
        return [(name, "subcommand") for name in SUBCOMMANDS if name.startswith(fragment) and (not cell or _takes_body(name))]
    command = words[0]
    names = _names(command, words[1:])
    if names is None:  # an option's value (a seq, a time, a count): say what it takes, change nothing
        return [(fragment, _value_kind(command, words[-1]))]
    cmd = SUBCOMMANDS.get(command)
    if cmd is not None and cmd.tail is not None and len(names) >= cmd.n_names():
        return _tail_completions(cmd.tail, names, fragment, cell, value)
    options: list[tuple[str, str]] = []
    if fragment.startswith("-") and "--" not in words:  # (after `--` every word is a name)
        options = [(opt, "option") for opt in _options(command) if opt.startswith(fragment)]
        if not (command in GROUP_COMMANDS and len(names) < 1 + (command in KEY_COMMANDS)):
            return options
        # a group or key starting with '-' (written after `--`, see the matcher) may be what is typed
    words_typed = words
    words = [command, *names]
    position = len(words)
    if position == 1 and command == "help":
        return [(name, "subcommand") for name in SUBCOMMANDS if name.startswith(fragment)]
    if position == 1 and command == "use":
        return [(u, "database") for u in (":memory:",) if u.startswith(fragment)]
    if position == 1 and command in GROUP_COMMANDS:
        return options + [(g, "group") for g in groups() if g.startswith(fragment)]
    if position == 2 and command in KEY_COMMANDS:
        found = [(k, kind) for k, kind in _typed(keys(words[1], fragment), "key") if k.startswith(fragment)]
        if command in PAST_KEY_COMMANDS and past_keys is not None:
            live = {k for k, kind in found if kind == "key"}
            gone = dict.fromkeys(k for k in past_keys(words[1], fragment) if k.startswith(fragment) and k not in live)
            found += [(k, "deleted key") for k in gone]
        return options + found
    if cmd is not None and cmd.tail is None and position > cmd.n_names():
        # every name given: what the command takes next is an option (restore's --to), not Python
        found = [(opt, "option") for opt in _options_left(command, words_typed) if opt.startswith(fragment)]
        if found or command in FILE_COMMANDS:  # (a file's name: file-path completion offers them)
            return found
        # nothing more to type: say so, the text as typed (else IPython offers every Python name)
        return [(fragment, NOTHING_MORE)]
    return []


def _tail_completions(
    tail: Tail, names: list[str], fragment: str, cell: bool,
    value: Callable[[str, str], str | None] | None,
) -> list[tuple[str, str]]:
    """What completes at a command's VALUE/OPS: nothing of Python. Before any of it is typed,
    ``set`` offers the item's value as JSON text (to edit it), read when ``value`` is given;
    else one entry, the text as typed, typed by what is expected there (:func:`_tail_hint`).
    In ``%%state``'s first line the value is the cell's body: nothing more."""
    if cell:
        return [(fragment, NOTHING_MORE)]
    if tail.name == "VALUE" and value is not None and not fragment and len(names) == 2:
        current = value(names[0], names[1])
        if current is not None:
            return [(current, CURRENT_VALUE)]
    return [(fragment, _tail_hint(tail))]


def _tail_hint(tail: Tail) -> str:
    """The type of the entry at a command's VALUE / OPS: what is expected there."""
    return f"{tail.name}: JSON, or :name for a notebook variable" + (
        " (or the cell form, %%state)" if tail.cell else "")


#: the type of the entry that says more keys match than the list shows
MORE_KEYS = "more keys match: type more of the key"
#: the type of the entry after the last word a subcommand takes (``%state get GROUP KEY ``)
NOTHING_MORE = "nothing more: the command is complete"
#: the type of the entry for a word starting with '-' that no option nor name starts with
NO_MATCH = "no option, group or key starts with this"
#: the type of the entry standing for the names with a line break (a magic's line cannot hold one)
LINE_BREAK = "a name with a line break cannot be written in a %state line: use state_manager.sync"
#: the type of the entry at ``%state set GROUP KEY ``: the item's value, as JSON text
CURRENT_VALUE = "current value"
#: the longest value (as compact JSON text) offered at ``%state set GROUP KEY ``
CURRENT_VALUE_MAX = 200
#: entries inserted as they are (never quoted): subcommands, options, the hints
_VERBATIM = frozenset({"subcommand", "option", MORE_KEYS, NOTHING_MORE, CURRENT_VALUE, NO_MATCH, LINE_BREAK}) | _value_kinds() | {
    _tail_hint(c.tail) for c in SUBCOMMANDS.values() if c.tail is not None}


def _typed(names: Iterable[str | tuple[str, str]], kind: str) -> list[tuple[str, str]]:
    return [n if isinstance(n, tuple) else (n, kind) for n in names]


def key_candidates(found: list[str], prefix: str, cap: int) -> list[str | tuple[str, str]]:
    """At most ``cap`` of ``found`` (read with ``limit=cap + 1``), then, when there were more,
    a hint entry: the typed text itself (choosing it changes nothing) typed :data:`MORE_KEYS`."""
    shown: list[str | tuple[str, str]] = list(found[:cap])
    if len(found) > cap:
        shown.append((prefix, MORE_KEYS))
    return shown


def make_state_matcher(settings: MotiaNB) -> Callable[[CompletionContext], SimpleMatcherResult]:
    """Build the ``%state`` matcher; it reads group/key names from ``state_manager.sync``."""

    def groups() -> list[str]:
        return default_session().manager.sync.list_groups()

    def keys(group: str, prefix: str) -> list[str | tuple[str, str]]:
        cap = settings.completion_max_keys
        found = default_session().manager.sync.keys_with_prefix(group, prefix, cap + 1)
        return key_candidates(found, prefix, cap)

    def past_keys(group: str, prefix: str) -> list[str]:
        sync = default_session().manager.sync
        recent = dict.fromkeys(c["key"] for c in reversed(sync.history(group, limit=PAST_CHANGES)))  # newest first
        return [k for k in recent if k.startswith(prefix) and not sync.exists(group, k)]

    def value(group: str, key: str) -> str | None:
        # one item's read (what `%state get` reads); a value too long to edit on a line is not offered
        manager = default_session().manager
        try:
            sync, size = manager.sync, manager.backend.value_size(group, key)
            # (the stored text's length, read without the value: a 30 MB item took a second per Tab
            # to be read out and dropped; 8 times the bound leaves room for another writer's
            # whitespace and for numbers Python writes longer, 1e15 as 1000000000000000.0)
            if size is None or size > 8 * CURRENT_VALUE_MAX:
                return None
            text = json.dumps(sync.get(group, key), ensure_ascii=False, allow_nan=False)
        except Exception:  # (stored text that is not JSON, a store gone: the entry naming VALUE instead)
            return None
        return text if len(text) <= CURRENT_VALUE_MAX and _one_line(text) else None

    def steps() -> list[str]:
        return [s.name for s in all_steps()]

    def cron_steps() -> list[str]:
        return [s.name for s in all_steps() if s.of_type(CronTrigger)]

    def flows() -> list[str]:
        return sorted({f for s in all_steps() for f in s.flows})

    @context_matcher(identifier=MATCHER_ID)
    def state_matcher(context: CompletionContext) -> SimpleMatcherResult:
        """Complete subcommands, groups and keys of ``%state`` / ``%%state``, and ``%motia``."""
        empty: SimpleMatcherResult = {"completions": []}
        text = context.text_until_cursor
        m = _LINE_MAGIC.match(text)
        cell = False
        if m is None and context.cursor_line == 0:
            m = _CELL_MAGIC.match(text)
            cell = m is not None
        if m is None:
            return empty
        split = _words(m.group("args"))
        if split is None:
            return empty
        words, fragment, open_quote = split
        args = m.group("args")
        if not open_quote and args.endswith(("'", '"')):
            # The cursor sits just after a closing quote: that word is complete (Tab after
            # a space offers the next one). Offer the word as typed, so nothing changes;
            # an empty answer would let IPython's own matchers append `""` or file names.
            raw = args[tokenize(args).words[-1].start :]
            return {"completions": [SimpleCompletion(raw, type="name")], "matched_fragment": raw, "suppress": True}
        try:
            if m.group("magic") == "motia":
                found = motia_completions(words, fragment, steps, flows, cron_steps)
            else:
                found = state_completions(words, fragment, groups, keys, cell, past_keys, value)
        except Exception:  # completion must never raise into the user's typing
            return empty
        token = context.token
        # IPython replaces `token`; our word may extend before it (e.g. past a '-').
        cut = len(fragment) - len(token) if fragment.endswith(token) else 0
        # a name starting with '-' is read after `--` (`%state get orders -- -k`), unless one is there
        dashes = m.group("magic") == "state" and "--" not in words and not open_quote
        writable = [(text, kind) for text, kind in found if kind in _VERBATIM or _one_line(text)]
        if len(writable) < len(found):  # one entry for the names a line cannot hold, as typed
            writable.append((fragment, LINE_BREAK))
        completions = [SimpleCompletion(_inserted(text, kind, cut, open_quote, dashes), type=kind) for text, kind in writable]
        result: SimpleMatcherResult = {"completions": completions, "matched_fragment": fragment[cut:]}
        if m.group("magic") == "state" and words and words[0] in FILE_COMMANDS:
            return result  # let file-path completion add its candidates
        result["suppress"] = True
        return result

    return state_matcher
