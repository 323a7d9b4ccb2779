"""frame() / %state list keep integers exact: pandas turns an int column with a gap into float64,
which rounds integers beyond 2**53 (a report must not show a different id or counter)."""

from __future__ import annotations

import pandas as pd

from motia_nb.state.sync import to_frame

BIG = 2**53 + 1  # the first integer a float64 cannot hold
ROWS = [
    ("a", '{"id": %d, "n": 1, "ship": {"seq": %d}}' % (BIG, -BIG)),
    ("b", '{"n": 2, "ship": {}}'),
    ("c", '{"id": 18446744073709551615, "n": 3, "ship": {"seq": 7}}'),
    ("d", str(BIG)),
]


def test_integers_beyond_2_53_stay_exact_in_columns_with_gaps():
    df = to_frame(ROWS, flatten=True)
    assert df["id"][0] == BIG and type(df["id"][0]) is int
    assert df["id"][2] == 2**64 - 1
    assert pd.isna(df["id"][1]) and pd.isna(df["id"][3])
    assert df["ship.seq"][0] == -BIG and df["ship.seq"][2] == 7
    assert df["value"][3] == BIG
    # columns without such integers are left as pandas makes them
    assert df["n"].dtype.kind == "f" and df["n"].tolist()[:3] == [1.0, 2.0, 3.0]


def test_without_flattening_and_with_small_integers_nothing_changes():
    df = to_frame(ROWS, flatten=False)
    assert df["id"][0] == BIG and df["ship"][0] == {"seq": -BIG}
    small = to_frame([("a", '{"x": 1}'), ("b", "{}")], flatten=True)
    assert small["x"].dtype == "float64"  # as before: NaN-padded small ints stay float64
    # a digit run inside a string is not an integer
    text = to_frame([("a", '{"s": "12345678901234567890", "x": 1.5}'), ("b", "{}")], flatten=True)
    assert text["s"][0] == "12345678901234567890" and text["x"].dtype == "float64"
