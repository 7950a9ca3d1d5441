"""`python -m conformance [pytest options]`: run the conformance suite and print its client x target
table. Same as `pytest conformance`; e.g. `python -m conformance --targets pebble -k certbot`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if __name__ == "__main__":
    sys.exit(pytest.main([str(Path(__file__).parent), "-p", "no:cacheprovider", *sys.argv[1:]]))
