"""The layers: steps/ and state/ know nothing of IPython or ipywidgets; the notebook surface does."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "motia_nb"
NOTEBOOK_ONLY = ("IPython", "ipywidgets", "ipykernel")


@pytest.mark.parametrize("module", ["motia_nb.steps", "motia_nb.state"])
def test_importing_a_core_package_loads_no_notebook_library(module):
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {NOTEBOOK_ONLY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout) == [], f"importing {module} loaded {out.stdout}"


@pytest.mark.parametrize("folder", ["steps", "state"])
def test_no_core_module_imports_a_notebook_library_even_lazily(folder):
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(NOTEBOOK_ONLY)})\b", re.M)
    offenders = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / folder).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
