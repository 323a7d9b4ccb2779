"""Root conftest: loaded for every test, notebooks included (nbval collects notebooks/).

Notebooks and tests must never touch a user's .motia/state.db: give the whole run,
and the kernels nbval starts (they inherit the environment), a throwaway default.
"""

from __future__ import annotations

import os
import tempfile

_RUN_DIR = tempfile.mkdtemp(prefix="motia-nb-tests-")
# Set, not defaulted: a user who exported MOTIA_NB_DB for their own database (as the README
# shows) must not have the tutorials, which clear their groups, run against it.
os.environ["MOTIA_NB_DB"] = os.path.join(_RUN_DIR, "state.db")
