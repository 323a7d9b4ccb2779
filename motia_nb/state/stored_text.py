"""What SQLite may hand back for a value that is not a str (pure: no I/O).

Another tool can store a BLOB, an SQL number or text that is not UTF-8 where motia_nb
keeps JSON text. Python's sqlite3 fails a whole fetch on the last (:data:`UNDECODABLE_MESSAGE`;
:func:`text_or_undecodable` is the ``text_factory`` a read retries with);
:class:`NotText` carries such a value through the write path (handed back leniently as
an old value, :func:`lenient_text`, as Redis reads its bytes; refused by reads, with
:func:`not_text_reason`'s words). The JSON side is :mod:`.jsontext`.
"""

from __future__ import annotations

from typing import Any

from .errors import StoredValueError

__all__ = [
    "Undecodable", "text_or_undecodable", "UNDECODABLE_MESSAGE", "NotText", "as_stored_text", "lenient_text", "not_text_reason",
    "text_keys",
]  # fmt: skip


class Undecodable(bytes):
    """A SQLite TEXT value whose bytes are not UTF-8 (another tool's), as
    :func:`text_or_undecodable` fetches it (Python's sqlite3 cannot make it a str)."""

    __slots__ = ()


def text_or_undecodable(raw: bytes) -> str | Undecodable:
    """A SQLite ``text_factory`` for a read that met text that is not UTF-8 (Python's sqlite3
    fails the whole fetch there): every valid text a str, the others :class:`Undecodable`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return Undecodable(raw)


#: what Python's sqlite3 raises for a fetch meeting TEXT that is not UTF-8 (its message starts so)
UNDECODABLE_MESSAGE = "Could not decode to UTF-8"


class NotText(str):
    """A stored value that is not text (SQLite: a BLOB, text that is not UTF-8, a number) as the
    write path carries it: a str holding :func:`lenient_text` of it (what a committed write
    hands back as its old value, as Redis does with its bytes), ``raw`` the value as stored.
    :func:`decode_one` refuses it (an update), as a read does; the changelog records ``raw``
    (SQLite binds it so: ``sqlite3.register_adapter`` in the backend)."""

    raw: Any

    @staticmethod
    def of(value: Any) -> NotText:
        t = NotText(lenient_text(value))
        t.raw = value
        return t


def as_stored_text(value: Any) -> Any:
    """A fetched value as the write path carries it: text (or None) as it is, any other
    value a :class:`NotText`."""
    return value if value is None or type(value) is str else NotText.of(value)


def lenient_text(value: Any) -> str:
    """A stored value that is not a str as Redis would read its bytes leniently: bytes as UTF-8
    (an invalid sequence as U+FFFD), a number as its SQL text, a :class:`NotText` as itself."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, float):
        return float.__repr__(value)
    return str(value)


def not_text_reason(value: Any) -> str:
    """Why a stored value that is not a str cannot be read (the words Redis uses for bytes that
    are not UTF-8, whichever way SQLite holds them)."""
    raw = value.raw if type(value) is NotText else value
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return "its bytes are not UTF-8 text"
        return f"it is a BLOB ({len(raw)} bytes), not JSON text"
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return f"it is a {type(raw).__name__}, not JSON text"
    return f"it is stored as an SQL {'INTEGER' if isinstance(raw, int) else 'REAL'} ({lenient_text(raw)[:40]}), not as JSON text"


def text_keys(keys: list[Any], group_id: str) -> list[Any]:
    """``keys`` as fetched, when every one is a str (the check is one pass in C); else the first
    that is not (another tool's BLOB or text that is not UTF-8) refused in one line, as Redis
    refuses a field name that is not UTF-8: nobody could get, set or delete it by a str key."""
    if set(map(type, keys)) <= {str}:
        return keys
    raw = next(bytes(k) for k in keys if type(k) is not str)
    shown = raw.decode("utf-8", "backslashreplace")
    try:
        raw.decode("utf-8")
        what = "is a BLOB, not text"
    except UnicodeDecodeError:
        what = "is not UTF-8 text"
    raise StoredValueError(
        f"a key of group {group_id!r} in SQLite {what} ({shown!r}), so motia_nb cannot name it; "
        f"rename or delete that row of the items table",
        group_id=group_id,
        key=shown,
    )
