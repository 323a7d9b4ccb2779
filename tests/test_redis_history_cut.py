"""The Redis item read's checks on the client, against plain models: the pipelined read cuts whole
members' prefixes (``history_index._Cut``: each member's tail, joined by commas, for any key and
any tails, crafted ones included: NULs, the key's own prefix, its letters inside a tail; a cut it
cannot prove is refused, ``_Uncut``, and the read goes on with the server cutting, never a wrong
one).
"""

from __future__ import annotations

import itertools

import hypothesis
import hypothesis.strategies as st
import pytest

from motia_nb.state.backends.redis.history_index import _Cut, _Uncut

_KEYS = st.text(alphabet=st.sampled_from(["k", "é", ".", "*", "\x00", "\x01", "\\", ","]), max_size=4)
_LETTERS = st.sampled_from([chr(c) for c in range(ord("a"), ord("t"))])


def _prefix(key: str) -> bytes:
    """A member's prefix, as ``hix_prefix`` in lua/history_index.lua makes it."""
    return key.encode().replace(b"\0", b"\0\1") + b"\0\0"


@st.composite
def _replies(draw: st.DrawFn) -> tuple[str, list[bytes], list[bytes]]:
    """A key, its members' tails, and the reply's strings: the members joined by commas, a few per string."""
    key = draw(_KEYS)
    fragments = st.sampled_from([b"x", b"1", b",", b"\0", b"\0\0", b"\1", b"[", b"]", _prefix(key), key.encode(), b"e"])
    tails = draw(st.lists(st.lists(fragments, max_size=6).map(b"".join), min_size=1, max_size=8))
    members = [_prefix(key) + draw(_LETTERS).encode() + t for t in tails]
    cuts = sorted(draw(st.sets(st.integers(1, len(members) - 1), max_size=3))) if len(members) > 1 else []
    bounds = [0, *cuts, len(members)]
    parts = [b",".join(members[a:b]) for a, b in itertools.pairwise(bounds)]
    return key, tails, parts


@hypothesis.settings(max_examples=1500, deadline=None)
@hypothesis.given(_replies())
def test_a_cut_is_the_members_tails_or_refused(reply: tuple[str, list[bytes], list[bytes]]) -> None:
    key, tails, parts = reply
    try:
        got = _Cut(key)(parts, len(tails))
    except _Uncut:
        assert any(b"\0" in t for t in tails)  # (refused only where a tail holds a NUL)
        return
    assert got == b",".join(tails)


def test_a_tail_holding_the_prefix_and_its_nuls_is_refused() -> None:
    p = _prefix("k")
    tails = [b"1,[" + p + b"e2]", b"3"]
    with pytest.raises(_Uncut):
        _Cut("k")([b",".join(p + b"e" + t for t in tails)], 2)
