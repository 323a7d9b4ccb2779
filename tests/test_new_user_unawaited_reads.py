"""A read of the state API written without ``await`` in a notebook cell, in a real kernel (nbclient).

``state_manager.get("orders", "o1")`` as a cell's last line showed ``<coroutine object
StateManager.get at 0x7f…>``; IPython's output cache (``Out[n]``, ``_n``, ``_``) kept the
coroutine, and Python said ``RuntimeWarning: coroutine 'StateManager.get' was never awaited``
whenever it went. With ``%load_ext motia_nb`` the cell shows one line saying nothing was read and
how to write the call, the coroutine is closed and nothing keeps it; another library's coroutine
is shown and kept as IPython does, and an awaited read is untouched. A read assigned to a
variable and then used as its value (``order["total"]``) fails with a one-line hint.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import CoroutineType
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from motia_nb.notebook.unawaited import UnawaitedReads
from motia_nb.testing import cell_text, run_cell

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")

CELLS = {
    "setup": '%load_ext motia_nb\nfrom motia_nb import state_manager\n'
             'await state_manager.set("orders", "o1", {"total": 5})\nNone',
    "awaited": 'await state_manager.get("orders", "o1")',
    "get": 'state_manager.get("orders", "o1")',
    "after_get": 'print(_, sorted(type(v).__name__ for v in Out.values()), [n for n in ("_2", "_3") if n in globals()])',
    "list": 'state_manager.list("orders")',
    "history": 'state_manager.history("orders", "o1", limit=5)',
    "count": 'state_manager.count("orders")',
    "keys": 'state_manager.keys_containing("orders", "o")',
    "named": 'sm = state_manager\nsm.frame("orders", flatten=False)',
    "foreign": 'import asyncio\nasyncio.sleep(0, "slept")',
    "foreign_kept": 'print(await Out[10])',
    "gone": '%reset -f out\nimport gc, warnings\nwarnings.simplefilter("always")\ngc.collect()\nprint("collected")',
    "used": 'order = state_manager.get("orders", "o1")\norder["total"]',
    "fixed": 'order = await state_manager.get("orders", "o1")\ngc.collect()\nprint(order["total"])',
    "inline": 'n = len(state_manager.list("orders"))',
    "inline_attr": 'state_manager.get("orders", "o1").get("total")',
    "dropped": 'state_manager.count("orders")\nprint("after")',
    "helper": 'def count_orders():\n    return len(state_manager.list("orders"))',
    "helper_run": 'count_orders()',
    "foreign_dropped": 'asyncio.sleep(0)\nprint("after")',
}


def run_in_kernel(cells: dict[str, str], tmp: Path, *, default_db: bool = False) -> dict[str, Any]:
    """``cells`` run in order in a real python3 kernel (this checkout first on its path, the
    state in ``tmp``: ``tmp/state.db``, or with ``default_db`` the default file the kernel
    picks in its folder ``tmp``): each name -> its executed cell."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells.values()])
    env = {**os.environ, "MOTIA_NB_DB": str(tmp / "state.db"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    if default_db:
        del env["MOTIA_NB_DB"]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp)}})
    client.execute(env=env)
    return dict(zip(cells, nb.cells))


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return run_in_kernel(CELLS, tmp_path_factory.mktemp("unawaited-reads"))


def shown(cell) -> str:
    return ANSI.sub("", cell_text(cell))


def result(cell) -> str:
    return "".join(o["data"]["text/plain"] for o in cell.outputs if o.output_type == "execute_result")


def test_an_unawaited_read_as_a_cells_result_says_in_one_line_what_to_write(ran):
    assert [c.execution_count for c in ran.values()][:3] == [1, 2, 3]
    assert shown(ran["setup"]) == "", shown(ran["setup"])
    assert shown(ran["get"]) == (
        '<state_manager.get(...) was not awaited, so nothing was read: write await state_manager.get("orders", "o1") '
        '(or state_manager.sync.get("orders", "o1"))>\n'), shown(ran["get"])
    assert shown(ran["list"]) == (
        '<state_manager.list(...) was not awaited, so nothing was read: write await state_manager.list("orders") '
        '(or state_manager.sync.list("orders"))>\n'), shown(ran["list"])
    assert shown(ran["history"]) == (
        '<state_manager.history(...) was not awaited, so nothing was read: write await '
        'state_manager.history("orders", "o1", limit=5) (or state_manager.sync.history("orders", "o1", limit=5))>\n'
    ), shown(ran["history"])
    assert shown(ran["count"]) == (
        '<state_manager.count(...) was not awaited, so nothing was read: write await state_manager.count("orders") '
        '(or state_manager.sync.count("orders"))>\n'), shown(ran["count"])
    # as the README says it
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "`" + shown(ran["get"]).strip() + "`" in readme
    # a read .sync does not have: only the await
    assert shown(ran["keys"]) == (
        '<state_manager.keys_containing(...) was not awaited, so nothing was read: write await '
        'state_manager.keys_containing("orders", "o")>\n'), shown(ran["keys"])
    # the manager under the user's own name
    assert shown(ran["named"]) == (
        '<sm.frame(...) was not awaited, so nothing was read: write await sm.frame("orders", flatten=False) '
        '(or sm.sync.frame("orders", flatten=False))>\n'), shown(ran["named"])
    # an awaited read is untouched
    assert result(ran["awaited"]) == "{'total': 5}", shown(ran["awaited"])


def test_the_output_cache_keeps_no_unawaited_read_and_no_warning_comes_later(ran):
    # _ is still the awaited read's value; Out and _3 hold nothing of the unawaited one
    assert shown(ran["after_get"]) == "{'total': 5} ['dict'] ['_2']\n", shown(ran["after_get"])
    # another library's coroutine is shown and kept as IPython does (awaited from Out later)
    assert re.fullmatch(r"<coroutine object sleep at 0x[0-9a-f]+>", result(ran["foreign"])), shown(ran["foreign"])
    assert ran["foreign"].execution_count == 10
    assert shown(ran["foreign_kept"]) == "slept\n", shown(ran["foreign_kept"])
    # the cache held the awaited value and the foreign coroutine only; the reads were closed:
    # dropped from everything, nothing says "coroutine ... was never awaited"
    assert shown(ran["gone"]) == "Flushing output cache (2 entries)\ncollected\n", shown(ran["gone"])


def test_a_read_assigned_then_used_fails_with_a_one_line_hint(ran):
    out = shown(ran["used"])
    errors = [o for o in ran["used"].outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "TypeError", out
    assert errors[0].evalue == "'coroutine' object is not subscriptable", out
    streams = "".join(o.text for o in ran["used"].outputs if o.output_type == "stream")
    assert streams == (
        '✖ order is state_manager.get(...) not awaited, so nothing was read: write order = await '
        'state_manager.get("orders", "o1") (or order = state_manager.sync.get("orders", "o1"))\n'), out
    # closed by the hint: rebinding the name says nothing more
    assert shown(ran["fixed"]) == "5\n", shown(ran["fixed"])


def test_a_read_used_inline_fails_with_a_one_line_hint(ran):
    """``len(state_manager.list("orders"))``: the coroutine is gone before any hook runs; the
    cell's code names the call. The hint is the one message: Python's own "RuntimeWarning:
    coroutine 'StateManager.list' was never awaited" came first (two lines, and a third about
    tracemalloc) and is not said for a read the hint names."""
    for name, ename, hint in [
        ("inline", "TypeError", '✖ state_manager.list(...) is not awaited in this cell, so nothing was read: write '
                                '(await state_manager.list("orders")) (or state_manager.sync.list("orders"))\n'),
        ("inline_attr", "AttributeError", '✖ state_manager.get(...) is not awaited in this cell, so nothing was read: '
                                          'write (await state_manager.get("orders", "o1")) '
                                          '(or state_manager.sync.get("orders", "o1"))\n'),
    ]:
        errors = [o for o in ran[name].outputs if o.output_type == "error"]
        assert len(errors) == 1 and errors[0].ename == ename, shown(ran[name])
        streams = "".join(o.text for o in ran[name].outputs if o.output_type == "stream")
        assert streams == hint, streams


def test_a_read_dropped_unawaited_in_a_cell_gets_the_hint_not_pythons_warning(ran):
    """``state_manager.count("orders")`` as a statement that is not the cell's last: its coroutine
    goes at once; the cell's code names the call, so the hint says it instead of the warning."""
    streams = {o.name: o.text for o in ran["dropped"].outputs if o.output_type == "stream"}
    assert streams == {"stdout": "after\n", "stderr": (
        '✖ state_manager.count(...) is not awaited in this cell, so nothing was read: write '
        '(await state_manager.count("orders")) (or state_manager.sync.count("orders"))\n')}, streams


def test_pythons_warning_stays_where_the_cell_does_not_name_the_read(ran):
    """Not silenced for all reads: a function of another cell that drops a read, and another
    library's coroutine, still get Python's warning (the cell's code does not tell which call)."""
    helper = shown(ran["helper_run"])
    assert "RuntimeWarning: coroutine 'StateManager.list' was never awaited" in helper, helper
    assert "✖" not in helper, helper
    foreign = shown(ran["foreign_dropped"])
    assert "RuntimeWarning: coroutine 'sleep' was never awaited" in foreign and "after" in foreign, foreign


def test_reload_leaves_one_coroutine_formatter_and_unload_gives_ipythons_back(ip):
    printers = ip.display_formatter.formatters["text/plain"].type_printers

    def ours(event):
        return [f for f in ip.events.callbacks[event] if isinstance(getattr(f, "__self__", None), UnawaitedReads)]

    import warnings

    try:
        for _ in range(2):
            assert run_cell(ip, "%reload_ext motia_nb").success
            (hook,) = ours("post_run_cell")
            assert len(ours("pre_run_cell")) == 1 and printers[CoroutineType] == hook.__self__._pretty
            # Python's unawaited-coroutine hook: ours once, over Python's own (not over an unloaded one of ours)
            assert warnings._warn_unawaited_coroutine == hook.__self__._unawaited
            assert hook.__self__._prior_hook.__module__ == "warnings"
        assert run_cell(ip, "%unload_ext motia_nb").success
        assert ours("pre_run_cell") == ours("post_run_cell") == [] and CoroutineType not in printers
        assert warnings._warn_unawaited_coroutine.__module__ == "warnings"
    finally:
        if "motia_nb" not in ip.extension_manager.loaded:
            ip.run_line_magic("load_ext", "motia_nb")
