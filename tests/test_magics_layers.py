"""The layers at run time: importing steps/ or state/ loads no IPython, ipywidgets or ipykernel.

(The source-level rule, no such import anywhere under those folders, is tests/test_layout.py's.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NOTEBOOK_ONLY = ("IPython", "ipywidgets", "ipykernel")


@pytest.mark.parametrize("module", ["motia_nb.steps", "motia_nb.state"])
def test_importing_a_core_package_loads_no_notebook_library(module):
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {NOTEBOOK_ONLY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout) == [], f"importing {module} loaded {out.stdout}"
