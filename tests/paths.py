"""Where the tests find things, wherever in the tests/ tree they sit."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent          # tests/
ROOT = TESTS.parent                              # the repository root
TEST_DATA = TESTS / "data"                       # small files shipped with the tests
SHARED_DATA = ROOT.parent / "shared" / "data"    # ../shared/data: benchmark data, absent outside the workspace
