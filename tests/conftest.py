"""Makes ``tests/support`` (helpers shared by several test directories) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
