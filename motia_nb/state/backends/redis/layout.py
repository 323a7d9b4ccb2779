"""Where state lives in Redis (SPEC §6, the layout of Motia's engine Redis adapter),
and how a Redis URL is read.

- ``state:<group>`` — a hash; field = the item's key, value = the item's JSON text.
  This is *the* data: Motia reads and writes it, and so can anyone with
  ``redis-cli HSET state:orders o1 '{"total": 3}'``.
- ``motia_nb:order:<group>`` — a sorted set ``key -> sequence number`` that
  remembers insertion order (a Redis hash does not keep it once it grows past a
  listpack). Scores come from the counter ``motia_nb:seq``. It lives outside the
  ``state:`` prefix, so Motia never sees it. Fields written by somebody else
  (Motia, redis-cli) are missing from it: reads list them *after* the ordered
  items, in hash order, and the next motia_nb write to the group indexes them
  (in that same order), so their place is stable from then on. (The check is
  "the hash and the index have different sizes": if hand edits add and remove the
  same number of fields between two motia_nb writes, the added ones stay
  unindexed — still listed, after the others — until the sizes differ again.)
- ``motia_nb:keys:<group>`` — the group's key index: a sorted set holding every field of the
  hash at score 0, so ``ZRANGE … BYLEX`` answers prefix queries in O(log n) and a substring
  search walks the keys in key order (:mod:`.key_index`). Kept exact by the same Lua scripts
  that write the hash. ``motia_nb:keys_ready:<group>`` says it is complete: it is set when a
  write finds the hash empty (the index starts with the group) or when a chunked fill of an
  older group (HSCAN, from :mod:`.key_index`) finishes with the index and the hash the same
  size. Until then, and whenever the sizes differ (somebody else wrote the hash), searches
  scan the hash (``HSCAN MATCH``) and the index is rebuilt. Somebody else adding one key and
  removing another keeps the sizes: each read probes one random key of the hash and of the
  index, and a search whose answer names a key the hash no longer holds finds out too
  (``keys_ready.lua``); either drops the marker.
- ``motia_nb:keys_chunks:<group>`` and ``motia_nb:keys_text:<group>`` — the key text of a
  searched big group (20,000 keys or more, :mod:`.key_index`): the key index cut into chunks of about a
  five hundred consecutive keys (the sorted set holds each chunk's first bound, ``""`` first, all
  scored with the chunk size) and, in the hash, each chunk's keys joined by NUL bytes, so a
  substring search reads a few long strings instead of a million short ones. Made by the
  group's first search (or when a fill of the index ends), then kept exact by the same Lua
  scripts that write the hash.
- ``motia_nb:history:<group>`` — the group's changelog (SPEC §9), a stream: one entry per
  script call (format 2, ``lua/history.lua``), ID ``<seq>-0`` of its last change, with ``seq``
  from the store-wide counter ``motia_nb:history:seq`` (so seqs increase across groups in commit
  order; the group named ``seq``, whose stream would be that counter, has
  ``motia_nb:history_stream:seq``: :func:`history_stream`); fields ``v`` (``2``), ``m`` (its changes), ``at`` (server time, unix seconds), ``p``
  (pid), ``origin``, ``c`` / ``r`` (cause, trace id) or ``w`` (one cause and trace per change),
  ``ks`` / ``os`` / ``ns`` (the keys, old and new texts: JSON arrays, ``false`` absent).
  Entries an older version wrote, and those of a call of one change (set, cas, delete), hold
  one change each: ``t`` (event type), ``k`` (key), ``o`` /
  ``n`` (old / new JSON text, absent when the value is), ``at``, ``c``, ``r``, ``p``, ``origin``.
  Appended by the same Lua script that commits the changes. Retention: whole entries, oldest
  first, by the writes (a count per group, ``motia_nb:history_count:<group>`` holding the
  changes the stream holds, a tenth over it at most 100; and an age), bounded per call.
- ``motia_nb:history_index:<group>`` — the changelog's item index: a sorted set, every member at
  score 0, one per change of the stream: ``<key>\\0\\0``, a letter saying how many digits the
  seq has, then the change as JSON text, its seq first (see ``lua/history_index.lua``), so one
  item's history (with ``since=`` and ``limit=``, and ``get(at=)``) is one lexical range. A
  write call of a few changes indexes them itself while the index is caught up; the others are
  filed off the write path (``lua/history_file.lua``: by each such read first, and by a task
  once the writes pause, :mod:`.filer`) up to ``motia_nb:history_index_upto:<group>`` (every change with
  a seq up to it is indexed); trimmed by the same scripts as the stream.
  ``motia_nb:history_index_from2:<group>`` holds the first seq from which it is complete (0: all);
  the changes of a store written before the index existed are indexed by the first read that
  needs them, a chunk per call (:mod:`.history_index`). The marker's name is the members'
  format: an index of the format before (``motia_nb:history_index_from:<group>``, the time in
  microseconds only, each value in brackets) has no such marker, so the first write or read
  drops it and the index is made again from the stream, as for a store written before the
  index existed (the old marker is deleted then).
- ``motia_nb:events:<db>`` — a pub/sub channel. Every committed change is
  published *from inside the same Lua script that commits it*, so messages are
  atomic with the write and arrive in commit order in every process. A message is
  ``{"origin", "events": [{t, g, k, o, n}], "r"}``: ``r`` the call's trace id (absent when
  none); an event of a ``set_many`` of several traces has its own ``r`` ('' none).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from redis.connection import parse_url
from redis.exceptions import BusyLoadingError, NoPermissionError, NoScriptError, ReadOnlyError
from redis.exceptions import ConnectionError as LostConnection
from redis.exceptions import TimeoutError as TimedOut

from ...errors import StateClosedError, StateError, StoredValueError
from ...urls import safe_url

__all__ = [
    "STATE_PREFIX", "ORDER_PREFIX", "SEQ_KEY", "CHANNEL_PREFIX", "RedisBackendError",
    "HISTORY_PREFIX", "HISTORY_SEQ_KEY", "history_stream", "HISTORY_INDEX_PREFIX", "HISTORY_INDEX_FROM_PREFIX", "HISTORY_INDEX_UPTO_PREFIX",
    "HISTORY_INDEX_FROM_V1_PREFIX",
    "HISTORY_COUNT_PREFIX", "history_index_keys", "history_read_keys", "history_trim_keys", "KEYS_PREFIX", "KEYS_READY_PREFIX",
    "KEYS_CHUNKS_PREFIX", "KEYS_TEXT_PREFIX",
    "NotAHashError", "not_a_hash", "key_index_keys", "write_keys", "item_keys", "parse_db", "is_local", "safe_url", "io_error", "not_sent",
    "may_have_run",
    "closed_error", "no_answer",
]  # fmt: skip

#: Motia's engine layout: one hash per group.
STATE_PREFIX = "state:"
#: motia_nb's insertion-order index (one sorted set per group).
ORDER_PREFIX = "motia_nb:order:"
#: The counter that scores the order index.
SEQ_KEY = "motia_nb:seq"
#: The changelog: one stream per group, and the counter giving every change its seq.
HISTORY_PREFIX = "motia_nb:history:"
HISTORY_SEQ_KEY = "motia_nb:history:seq"
#: The stream of the group whose stream would be HISTORY_SEQ_KEY (the group ``seq``): a key no
#: group's key of any prefix here is
HISTORY_SEQ_GROUP_STREAM = "motia_nb:history_stream:seq"
#: The changelog's item index (a sorted set of the group's changes, by key then seq) and its
#: marker (the first seq from which it holds every change; 0: all of them).
HISTORY_INDEX_PREFIX = "motia_nb:history_index:"
HISTORY_INDEX_FROM_PREFIX = "motia_nb:history_index_from2:"
#: That marker as the members' format before (times in microseconds only, values in brackets)
#: named it: its index is made again (:mod:`.history_index`)
HISTORY_INDEX_FROM_V1_PREFIX = "motia_nb:history_index_from:"
#: The item index's forward marker (every change with a seq up to it is indexed, from the marker
#: above on) and the number of changes the group's stream holds (its entries hold one or many).
HISTORY_INDEX_UPTO_PREFIX = "motia_nb:history_index_upto:"
HISTORY_COUNT_PREFIX = "motia_nb:history_count:"
#: The key index (a sorted set, every member at score 0) and its "complete" marker.
KEYS_PREFIX = "motia_nb:keys:"
KEYS_READY_PREFIX = "motia_nb:keys_ready:"
#: The key text of a searched big group: its chunks' bounds (a sorted set) and texts (a hash).
KEYS_CHUNKS_PREFIX = "motia_nb:keys_chunks:"
KEYS_TEXT_PREFIX = "motia_nb:keys_text:"
#: Change events are published on ``CHANNEL_PREFIX + <db number>`` (pub/sub is server-wide).
CHANNEL_PREFIX = "motia_nb:events:"


class RedisBackendError(StateError, ConnectionError):
    """Redis could not be reached, or answered with an error (the URL is in the message).
    In IPython it shows as the user's frames plus this one line: motia_nb's frames and
    redis-py's add nothing to "cannot connect" (``%tb`` shows them)."""


class NotAHashError(RedisBackendError, StoredValueError):
    """A group's ``state:<group>`` key (or its order index) holds another kind of Redis value
    (another tool wrote a string there): a :class:`StoredValueError` naming the group
    (``key`` is None), and still the :class:`RedisBackendError` it always was."""

    def __reduce__(self) -> Any:
        return (_rebuild_not_a_hash, (str(self), self.group_id))


def _rebuild_not_a_hash(message: str, group_id: Any) -> NotAHashError:
    return NotAHashError(message, group_id=group_id)


def not_a_hash(url: str, group_id: str | None, doing: str) -> NotAHashError:
    """The error for a WRONGTYPE reply: ``doing`` is ``read`` or ``write``."""
    if group_id is None and doing != "write":
        return NotAHashError(f"a {STATE_PREFIX}… key read on {safe_url(url)} holds a Redis value that is not a hash")
    what = f"{STATE_PREFIX}{group_id if group_id is not None else '<group>'} (or its order index) on {safe_url(url)} holds a Redis value that is not a hash"
    if doing == "write":
        return NotAHashError(f"{what}; nothing was written", group_id=group_id)
    return NotAHashError(
        f"group {group_id!r} in Redis cannot be read: {what} (written by another tool?). "
        f"Delete or rename that Redis key",
        group_id=group_id,
    )


def key_index_keys(group: str) -> list[str]:
    """The group's hash, its key index, the index's "complete" marker and its key text
    (chunk bounds, chunk texts)."""
    return [STATE_PREFIX + group, KEYS_PREFIX + group, KEYS_READY_PREFIX + group, KEYS_CHUNKS_PREFIX + group,
            KEYS_TEXT_PREFIX + group]  # fmt: skip


def history_index_keys(group: str) -> list[str]:
    """The group's changelog item index, its two markers (from, up to) and its change count."""
    return [HISTORY_INDEX_PREFIX + group, HISTORY_INDEX_FROM_PREFIX + group, HISTORY_INDEX_UPTO_PREFIX + group,
            HISTORY_COUNT_PREFIX + group]  # fmt: skip


def history_stream(group: str) -> str:
    """The group's changelog stream: ``motia_nb:history:<group>``, but for the group ``seq``,
    whose stream would be the store-wide seq counter (:data:`HISTORY_SEQ_KEY`)."""
    key = HISTORY_PREFIX + group
    return HISTORY_SEQ_GROUP_STREAM if key == HISTORY_SEQ_KEY else key


def history_read_keys(group: str) -> list[str]:
    """KEYS of history_item.lua, history_index_fill.lua and history_file.lua: the group's stream,
    then :func:`history_index_keys`."""
    return [history_stream(group), *history_index_keys(group)]


def history_trim_keys(group: str) -> list[str]:
    """KEYS of history_trim_age.lua: history.lua's six (:func:`history_index_keys`, the history
    counter, the group's stream), as the write scripts end."""
    return [*history_index_keys(group), HISTORY_SEQ_KEY, history_stream(group)]


def write_keys(group: str) -> list[str]:
    """KEYS of set.lua, set_many.lua and cas.lua: the group's hash, its order index, the order
    counter, its key index, that index's marker and key text (``KEYS[#KEYS - 9]`` …
    ``KEYS[#KEYS - 6]``), the changelog's item index, its two markers and change count, the
    history counter, the group's history stream (history.lua's six)."""
    return [STATE_PREFIX + group, ORDER_PREFIX + group, SEQ_KEY, *key_index_keys(group)[1:],
            *history_index_keys(group), HISTORY_SEQ_KEY, history_stream(group)]  # fmt: skip


def item_keys(group: str) -> list[str]:
    """KEYS of delete.lua and clear.lua: :func:`write_keys` without the order counter."""
    return [STATE_PREFIX + group, ORDER_PREFIX + group, *key_index_keys(group)[1:],
            *history_index_keys(group), HISTORY_SEQ_KEY, history_stream(group)]  # fmt: skip


def parse_db(url: str) -> int:
    """The database number of ``url`` (redis-py's rules: ``?db=`` or the path).

    A path that is not a number is refused: redis-py drops it (``/abc`` is database 0) or
    joins its digits (``/1/2`` is 12), so a typo would write to another database."""
    try:
        kwargs = parse_url(url)
    except ValueError as exc:
        raise RedisBackendError(f"bad Redis URL {safe_url(url)!r}: {exc}") from exc
    parts = urlsplit(url)
    path = parts.path
    if not url.startswith("unix://") and path not in ("", "/") and not path[1:].isdigit() and "db=" not in parts.query:
        raise RedisBackendError(
            f"bad Redis URL {safe_url(url)!r}: the database after the port must be a number "
            f"(redis://host:6379/0), got {path[1:]!r}"
        )
    return int(kwargs.get("db", 0) or 0)


def is_local(url: str) -> bool:
    """True for a unix socket or a loopback host (127.0.0.0/8, ::1, localhost)."""
    if url.startswith("unix://"):
        return True
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_NOT_SENT = "_motia_nb_not_sent"
#: how a write script says a key of motia_nb's holds another kind of value (lua/history.lua wrong_type)
WRONG_TYPE = "motia_nb wrong type: "


def closed_error(url: str) -> StateClosedError:
    """What a write made on (or queued for) a closed Redis store fails with."""
    return StateClosedError(f"the state database {safe_url(url)} was closed")


def not_sent(exc: BaseException) -> BaseException:
    """Mark ``exc`` as raised before the write's command was sent (connecting failed, or a read
    the write needed first): :func:`io_error` then says it was not applied."""
    setattr(exc, _NOT_SENT, True)
    return exc


def may_have_run(exc: BaseException) -> bool:
    """Whether a write that failed with ``exc`` may have run on the server all the same: its
    connection was lost, or timed out, once its command was sent (:func:`not_sent` marks
    the others). Its events then reached no listener of this process: a gap."""
    return (
        isinstance(exc, (LostConnection, TimedOut))
        and not getattr(exc, _NOT_SENT, False)
        and not isinstance(exc, BusyLoadingError)  # (a reply, read whole: "LOADING", nothing ran)
    )


def _refused_unrun(exc: BaseException) -> bool:
    """Whether Redis refused the command before running it: a key the user may not touch
    (NOPERM), a replica (READONLY), a server still loading, a script it forgot. The same
    refusals from inside a running script name the script (``@user_script``): not these."""
    return isinstance(exc, (NoPermissionError, ReadOnlyError, BusyLoadingError, NoScriptError)) and (
        "@user_script" not in str(exc)
    )


def no_answer(exc: BaseException, timeout: float | None) -> str:
    """``TimeoutError: <redis-py's words>``, and for a timed-out reply how long it was waited for
    (``busy_timeout``: a hung or overloaded server answers nothing)."""
    said = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TimedOut) and timeout is not None:
        said += f"; no answer within {timeout:g} s (busy_timeout): a hung or overloaded server?"
    return said


def io_error(exc: BaseException, url: str, group_id: str | None = None, timeout: float | None = None) -> StateError:
    """The error a write answers when Redis failed (a StateError passes through): "not applied"
    where :func:`not_sent` marked it or Redis refused it unrun, else "may or may not" (the command
    may have reached the server, and run there, before the connection was lost or its reply was
    waited for ``timeout`` seconds, the socket timeout, in vain)."""
    if isinstance(exc, StateError):
        return exc
    said = str(exc)
    if WRONG_TYPE in said:  # (a write script's check, before it wrote anything: lua/history.lua wrong_type)
        err: RedisBackendError = RedisBackendError(
            f"write to Redis at {safe_url(url)} was refused: {said.split(WRONG_TYPE, 1)[1]} (written by another "
            "tool? delete or rename that key); nothing was written"
        )
    elif "WRONGTYPE" in said:
        err = not_a_hash(url, group_id, "write")
    elif getattr(exc, _NOT_SENT, False):
        err = RedisBackendError(
            f"write to Redis at {safe_url(url)} failed before it was sent ({no_answer(exc, timeout)}); "
            "it was not applied"
        )
    elif _refused_unrun(exc):
        err = RedisBackendError(
            f"write to Redis at {safe_url(url)} was refused ({type(exc).__name__}: {exc}); it was not applied"
        )
    else:
        err = RedisBackendError(
            f"write to Redis at {safe_url(url)} failed ({no_answer(exc, timeout)}); "
            # its events were in the reply that never came (this process's pub/sub messages are not
            # handed to it again): had it run, its triggers and subscribers here would not know
            "no state trigger or subscriber of this process hears of it, and it may or may not have been applied"
        )
    err.__cause__ = exc
    return err
