"""Steps in a real kernel (nbclient, what "Run All" does), as a new user runs them.

Each cell's outputs are checked: a step's prints land in the cell that caused them,
a handler's error is reported in that cell naming the cell it was defined in as
IPython does (``Cell In[3], line 4``; was the kernel's temporary file,
``/tmp/ipykernel_1234/….py``, a machine path in a saved notebook), loading the
extension twice does not double anything, and re-running a ``%%step`` cell replaces
its step.
"""

from __future__ import annotations

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

CELLS = [
    "%load_ext motia_nb\nfrom motia_nb import step, queue, state_manager, request",
    '''%%step
from motia import state
config = {"name": "Watch", "triggers": [state(condition=lambda e, c: e.group_id == "g")]}
def handler(event, ctx):
    print("Watch saw", event.item_id, event.new_value)
''',
'''@step({"name": "Boom", "triggers": [queue("boom")]})
async def boom(data, ctx):
    print("about to fail")
    raise ValueError("bad data: " + str(data))''',
    'await state_manager.set("g", "k", 1)',
    '%motia enqueue boom {"x": 1}\nprint("the cell goes on")',
    "%load_ext motia_nb",
    "%state set g k2 2",
    '''%%step
from motia import http, stateManager
config = {"name": "Watch", "triggers": [http("POST", "/watch/:id")]}
async def handler(request):
    await stateManager.set("h", request.path_params["id"], request.body)
    return {"status": 201, "body": await stateManager.get("h", request.path_params["id"])}
''',
    "%state set g k3 3",
    '(await request("POST", "/watch/w1", body={"a": 1}))["body"]',
]


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def result(cell) -> str:
    return "".join(o["data"]["text/plain"] for o in cell.outputs if o.output_type == "execute_result")


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    cwd = tmp_path_factory.mktemp("kernel")
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb.cells


def test_a_steps_print_lands_in_the_cell_whose_write_caused_it(ran):
    assert text(ran[1]) == "✓ step 'Watch' registered (state (condition))\n"
    assert text(ran[2]) == ""
    assert text(ran[3]) == "Watch saw k 1\n"
    assert result(ran[3]) == "{'new_value': 1, 'old_value': None}"


def test_a_handler_error_is_reported_in_the_causing_cell_naming_the_defining_cell(ran):
    out = text(ran[4])
    assert out.startswith("about to fail\n✖ step 'Boom' failed (queue boom; trace "), out
    assert "Traceback (most recent call last):\n  Cell In[3], line 4, in boom\n" in out, out
    assert out.endswith("ValueError: bad data: {'x': 1}\nthe cell goes on\n"), out
    assert "ipykernel" not in out and "/tmp" not in out and "motia_nb" not in out, out


def test_loading_the_extension_twice_changes_nothing(ran):
    assert "already loaded" in text(ran[5])
    assert text(ran[6]) == "Watch saw k2 2\n"  # once: one subscription, one step


def test_rerunning_a_step_cell_replaces_its_step(ran):
    assert text(ran[7]) == "✓ step 'Watch' replaced (http POST /watch/:id)\n"
    assert text(ran[8]) == ""  # the state trigger went with the old definition
    assert result(ran[9]) == "{'a': 1}"


def execute(kc, code: str, cell_id: str) -> str:
    """Run ``code`` as JupyterLab runs a cell (its id in the request's ``cellId`` metadata); its stdout."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}
    msg = kc.session.msg("execute_request", content, metadata={"cellId": cell_id})
    kc.shell_channel.send(msg)
    out = []
    while True:
        m = kc.get_iopub_msg(timeout=120)
        if m["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])
        elif m["msg_type"] == "error":
            out.append(f"ERROR {m['content']['ename']}")
        elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return "".join(out)


def test_rerunning_an_edited_cell_in_the_kernel_drops_its_renamed_step(tmp_path):
    # the same cell (same id), edited and run again, as in JupyterLab
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        assert execute(kc, "%load_ext motia_nb\nfrom motia_nb import state_manager", "c0") == ""
        assert execute(kc, CELLS[1], "c1") == "✓ step 'Watch' registered (state (condition))\n"
        assert execute(kc, 'await state_manager.set("g", "k", 1)', "c2") == "Watch saw k 1\n"
        renamed = CELLS[1].replace('"Watch"', '"Watcher"').replace("Watch saw", "Watcher saw")
        assert execute(kc, renamed, "c1") == ("✓ step 'Watcher' registered (state (condition))\n"
                                               "✓ step 'Watch' removed: this cell no longer defines it\n")
        assert execute(kc, 'await state_manager.set("g", "k", 2)', "c2") == "Watcher saw k 2\n"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
