"""The evening's state cases (``test_new_user_state_evening.py``) in a real kernel, where the
kernel's own paths decide: Jupyter's ``complete_request`` (the cursor counted in code points, an
emoji in the names) and a cell's error output.

- Tab after a complete ``%state get '🎉 party' 'guest 🎈 1' ``: the kernel answered ~140 Python
  names (``and``, ``%%bash``…); it answers one entry, the text as typed, saying nothing more
  is to be typed, while a key still completes at the right place after the emoji.
- ``%state use redis:localhost:6379`` in a kernel: "motia_nb state database: redis:localhost:6379"
  and a file of that name in the kernel's folder; now the cell fails in one line and the
  kernel stays on its store.
"""

from __future__ import annotations

import os

import pytest

from motia_nb.notebook.completion import NOTHING_MORE

pytestmark = pytest.mark.slow


def complete(kernel, code: str) -> dict:
    kernel.kc.complete(code, len(code))
    reply = kernel.kc.get_shell_msg(timeout=30)
    assert reply["msg_type"] == "complete_reply", reply
    return reply["content"]


def test_completion_and_a_mistyped_url_in_a_kernel(kernel, tmp_path):
    kernel.run("%load_ext motia_nb")
    kernel.run(
        "from motia_nb import state_manager as sm\n"
        "for k in ('guest 🎈 1', 'guest 🎈 2'):\n"
        "    await sm.set('🎉 party', k, 1)\n"
    )
    line = "%state get '🎉 party' 'guest 🎈 1' "
    reply = complete(kernel, line)
    assert reply["matches"] == [""], reply["matches"][:10]  # was: ~140 Python names
    assert (reply["cursor_start"], reply["cursor_end"]) == (len(line), len(line))
    types = [m["type"] for m in reply["metadata"].get("_jupyter_types_experimental", [])]
    assert types == [NOTHING_MORE]
    reply = complete(kernel, "%state get '🎉 party' gu")  # still completes keys after the emoji
    assert reply["matches"] == ['"guest 🎈 1"', '"guest 🎈 2"']
    assert reply["cursor_start"] == len("%state get '🎉 party' ")

    with pytest.raises(AssertionError) as info:
        kernel.run("%state use redis:localhost:6379")
    text = str(info.value)
    assert "write redis://localhost:6379;" in text and "Traceback" not in text, text
    assert not os.path.exists(tmp_path / "redis:localhost:6379")
    out = kernel.run("print(sm.url); print(await sm.get('🎉 party', 'guest 🎈 2'))")
    assert out.split() == [str(tmp_path / "state.db"), "1"]
