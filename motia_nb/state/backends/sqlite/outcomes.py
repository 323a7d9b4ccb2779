"""A batch's outcomes from its plan's entries (:attr:`.apply.Plan.entries`), after its write-back:
what each write answers (its :class:`WriteResult` and events, or the API result alone), the old
values decoded leniently, text by text (another tool's text comes back as that text)."""

from __future__ import annotations

from typing import Any

from ...errors import StateError
from ...jsontext import decode_lenient_many, decode_stored
from ...values import NOT_COPIED
from ..base import WriteResult
from ..results import cleared, deleted, written

__all__ = ["outcomes_of"]

_trusted = decode_stored


def outcomes_of(entries: list[Any], *, events: bool) -> "list[WriteResult | StateError | Any]":
    """One outcome per plan entry (:attr:`Plan.entries`): a :class:`WriteResult` (with its
    events) or, when not ``events`` (nobody listens and every caller wants the result only),
    the API result itself; a write's own ``StateError`` either way. The new texts (motia_nb's own)
    are decoded in ONE call; the old ones each on its own, leniently: a text another tool wrote
    that is not JSON is its old value as that text (:func:`~motia_nb.state.jsontext.decode_lenient`,
    as Redis hands it back), and can never shift its neighbours' values."""
    olds: list[str] = []
    news: list[str] = []
    for e in entries:
        if type(e) is tuple:
            kind = e[0]
            if kind == "clear":
                if events:
                    olds.extend(t for _, t in e[3])
                continue
            if e[3] is not None:
                olds.append(e[3])
            if kind == "set" and e[4] is NOT_COPIED:
                news.append(e[5])
    old_values = iter(decode_lenient_many(olds))  # type: ignore[arg-type]
    if len(news) == 1:  # a lone write
        decoded = iter((_trusted(news[0]),))
    else:
        decoded = iter(_trusted("[" + ",".join(news) + "]")) if news else iter(())
    out: list[Any] = []
    append = out.append
    for e in entries:
        if type(e) is not tuple:
            append(e)
            continue
        kind, g, k, old_text, new, _ = e
        if kind == "clear":
            if events:
                append(cleared(g, [(key, next(old_values)) for key, _ in old_text]))
            else:
                append(len(old_text))
            continue
        old = next(old_values) if old_text is not None else None
        if new is NOT_COPIED:  # a set whose value was not copied at submission
            new = next(decoded)
        elif kind == "delete":
            append(deleted(g, k, old, existed=old_text is not None) if events else old)
            continue
        if events:
            append(written(g, k, old, new, existed=old_text is not None))
        else:  # the hot path of a big gather: the result only
            append({"new_value": new, "old_value": old})
    return out
