"""``python benchmarks/run.py`` (what ``make bench`` runs): the same as ``python -m benchmarks``."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Run as a script, Python puts benchmarks/ itself first on sys.path; the package
# needs the checkout's root instead (and must not shadow top-level modules).
if sys.path and os.path.abspath(sys.path[0] or ".") == HERE:
    sys.path[0] = ROOT
elif ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
