"""The msrpc unit tests' helpers (fake_host, pe_builder) are importable from this folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LAB = Path(__file__).resolve().parents[6] / "lab"
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))
