"""The reports of ``test_new_user_reports.py`` next to a real kernel (jupyter_client): a plain
report script reading the kernel's file while the kernel keeps its history, and what the cells
of a big group show in the notebook (the kernel's own output messages, not the test shell's).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import motia_nb

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(motia_nb.__file__)))


def results(kernel: Any, code: str) -> tuple[str, list[dict[str, Any]]]:
    """Run a cell; its printed text and the data of its results (``execute_result``, displays)."""
    out: list[str] = []
    data: list[dict[str, Any]] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            out.append(c["text"])
        elif t in ("execute_result", "display_data"):
            data.append(c["data"])
        elif t == "error":
            errors.append("\n".join(c["traceback"]))

    reply = kernel.kc.execute_interactive(textwrap.dedent(code), output_hook=hook, timeout=120)
    assert reply["content"]["status"] == "ok" and not errors, "".join(out) + "\n".join(errors)
    return "".join(out), data


def test_a_report_script_beside_a_kernel_and_a_big_group_in_the_notebook(kernel: Any, tmp_path: Path) -> None:
    kernel.run("""
        %load_ext motia_nb
        %config MotiaNB.history_keep = "all"
        import asyncio
        from motia_nb import state_manager
        await asyncio.gather(*(state_manager.set("orders", f"o{i % 2000}", {"n": i, "city": "Kraków"}) for i in range(3000)))
    """)
    # a plain script, with its own (smaller) keep, reads a frame of the kernel's file
    script = textwrap.dedent(f"""
        from motia_nb import StateManager
        m = StateManager({str(tmp_path / "state.db")!r}, history_keep="100")
        df = m.sync.frame("orders")
        assert len(df) == 2000 and df.n.max() == 2999, df
        assert len(m.sync.history("orders", limit=10_000)) == 100
        assert m.backend._recorder.passed.wait(15)
        m.close()
        print("read")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout == "read\n", done.stderr
    # the kernel's history is whole: the script deleted none of it
    out = kernel.run('print(len(await state_manager.history("orders", limit=10_000)))')
    assert out == "3000\n", out
    # the group as JSON: a few entries and a line, not 2,000 items of text
    printed, shown = results(kernel, "%state list orders --values")
    text = shown[0]["text/plain"]
    assert "\u2026 1,990 more items (2,000 in all; the value holds every one) \u2026" in text and len(text) < 2_000, text
    # a busy group's history says what it leaves out, in the cell
    printed, shown = results(kernel, "%state history orders --limit 5")
    assert "%state history: the newest 5 changes of 'orders'; older ones are kept: --limit N shows more" in printed
