"""A state write written without ``await`` in a notebook cell, in a real kernel (nbclient).

Where a loop runs the write is made anyway, and one that succeeds needs nothing more. One that
failed (an update that cannot apply) failed in silence: the cell showed ``<WriteFuture
pending>``, IPython's output cache kept the future, and asyncio would have told only its logger,
in the kernel's terminal. With ``%load_ext motia_nb`` the cell says the write was not awaited
and, when it fails, says why in one line in that cell; a failing write the cell dropped mid-way
is said once Python collects it; an awaited write is untouched.
"""

from __future__ import annotations

import re

import pytest
from test_new_user_unawaited_reads import (  # the same kernel run, text
    ROOT,
    run_in_kernel,
    shown,
)

pytestmark = pytest.mark.slow

BAD = '[{"type": "increment", "path": "x", "by": 1}]'  # (on a number: fails, the item left unchanged)

CELLS = {
    "setup": '%load_ext motia_nb\nfrom motia_nb import state_manager\nawait state_manager.set("g", "k", 1)\nNone',
    "set": 'state_manager.set("g", "k", 2)',
    "read": 'print(await state_manager.get("g", "k"), [type(v).__name__ for v in Out.values()])',
    "bad_update": f'state_manager.update("g", "k", {BAD})',
    "named": f'f = state_manager.update("g", "k", {BAD})\nf',
    "awaited_bad": f'await state_manager.update("g", "k", {BAD})',
    # (the awaited set after it ends after it: the dropped update has failed when gc runs)
    "dropped": f'state_manager.update("g", "k", {BAD})\nawait state_manager.set("g", "other", 1)\nimport gc\ngc.collect()\nprint("collected")',
    "after": 'print(await state_manager.get("g", "k"))',
}
SAID = ("✖ a state write that was not awaited failed: update on 'g'/'k' failed at op 0 (increment.target_not_object): "
        "cannot increment at 'x': the value is an int (2), not an object; the item was left unchanged\n")  # fmt: skip
MADE = "<a state write, not awaited: made; a failure is said in this cell when it ends (await it for its result)>\n"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return run_in_kernel(CELLS, tmp_path_factory.mktemp("unawaited-writes"))


def test_an_unawaited_write_that_succeeds_is_made_and_says_it_was_not_awaited(ran):
    assert shown(ran["setup"]) == "", shown(ran["setup"])
    assert shown(ran["set"]) == MADE  # (was <WriteFuture pending>)
    assert shown(ran["read"]) == "2 []\n"  # made; nothing of it kept in the output cache


def test_an_unawaited_write_that_fails_says_why_in_its_own_cell(ran):
    # (was <WriteFuture pending> and nothing else: the update silently did not happen)
    assert shown(ran["bad_update"]) == MADE + SAID, shown(ran["bad_update"])
    assert shown(ran["named"]) == MADE + SAID, shown(ran["named"])


def test_an_awaited_write_that_fails_raises_as_before(ran):
    text = shown(ran["awaited_bad"])
    assert "UpdateOpError" in text or "StateError" in text, text
    assert "not awaited" not in text


def test_a_failing_write_the_cell_dropped_is_said_once_collected(ran):
    text = shown(ran["dropped"])  # (stderr and stdout are two streams: either may come first)
    assert sorted(text.splitlines(keepends=True)) == sorted([SAID, "collected\n"]), text
    assert shown(ran["after"]) == "2\n"


def test_the_readme_quotes_the_lines_the_kernel_shows():
    """README, the contract's API: the unawaited write's result and failure line, as quoted there,
    begin the lines the kernel tests above see (MADE, SAID)."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    made = re.search(r"`(<a state write, not awaited: [^`]*?)…>`", readme)
    said = re.search(r"`(✖ a state write that was not awaited failed: )<the error>`", readme)
    assert made and said, "the README no longer quotes the unawaited write's lines"
    assert MADE.startswith(made.group(1)) and SAID.startswith(said.group(1))
