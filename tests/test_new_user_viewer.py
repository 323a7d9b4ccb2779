"""The viewer's model with odd names and values, as a new user's data has them (found by trying it).

Non-ASCII, huge (2 MB) and deep (511 levels) values list, show and save back as they are;
names holding control characters did not show them.
"""

from __future__ import annotations

import time


def test_the_viewer_shows_control_characters_in_names_visibly(tmp_path):
    # was: a key "line\nbreak" listed as "line break" (a browser shows a line break in an option as a space)
    from motia_nb.notebook.viewer import viewer
    from motia_nb.notebook.viewer.text import group_label, item_label, name_html
    from motia_nb.state import StateManager

    assert item_label("line\nbreak", 1, 12) == "line␊break    1"
    assert item_label("tab\there", "x", 4) == 'tab␉here  "x"'
    assert group_label("g\x1b", 3) == "g␛  (3)"
    assert name_html("<b>\r</b>") == "&lt;b&gt;␍&lt;/b&gt;"
    assert item_label("日本語のキー", {"名前": "🚀"}, 8) == '日本語のキー    {"名前": "🚀"}'  # other text as it is
    sm = StateManager(str(tmp_path / "v.db"))
    try:
        sm.sync.set("odd", "line\nbreak", "two\nlines")
        v = viewer("odd", manager=sm)
        try:
            deadline = time.monotonic() + 30
            while not v.items.options and time.monotonic() < deadline:
                time.sleep(0.05)
            assert v.items.options == (('line␊break  "two\\nlines"', "line\nbreak"),)  # the value stays the key
            v.select_item("line\nbreak")
            while "line␊break" not in v.key_label.value and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "<code>line␊break</code>" in v.key_label.value
            assert v.value_text.value == '"two\\nlines"'
        finally:
            v.close()
    finally:
        sm.close()
